"""First-class MNIST-family formats for Datumaro: ``mnist`` (IDX), ``mnist_csv`` and ``mnist_synthetic``.

Importing this package registers its formats with Datumaro (in place of the built-in ones). After
``pip install`` you rarely need to: a ``.pth`` start-up hook registers them in every interpreter,
unless the environment variable ``DATUMARO_MNIST_PLUGINS_DISABLE=1`` is set.
"""

__version__ = "0.1.0"


def register() -> None:
    """Make every Datumaro ``Environment`` use this package's formats (idempotent)."""
    from .registration import install

    install()


try:
    register()
except Exception as _error:  # an import-time failure must never break the interpreter
    import warnings

    warnings.warn(f"datumaro_mnist_plugins: registration failed: {_error}", RuntimeWarning, stacklevel=2)
