"""``python -m datumaro_mnist_plugins preview ...``: see :mod:`.preview`."""

import sys

from .preview import main

sys.exit(main())
