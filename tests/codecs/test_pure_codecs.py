"""The codecs are pure: each imports (and works) with Datumaro unimportable."""

import pkgutil
import subprocess
import sys

import pytest

from datumaro_mnist_plugins import codecs

CODECS = sorted(m.name for m in pkgutil.iter_modules(codecs.__path__))


def test_there_are_codecs_to_check():
    assert {"idx", "idx_payload", "gzip_blocks"} <= set(CODECS)


@pytest.mark.parametrize("name", CODECS)
def test_a_codec_imports_nothing_of_datumaro(name, tmp_path):
    code = (
        "import sys; sys.modules['datumaro'] = None\n"  # any `import datumaro...` now raises ImportError
        f"import datumaro_mnist_plugins.codecs.{name}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'datumaro' and sys.modules[m] is not None))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
