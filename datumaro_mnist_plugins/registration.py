"""Registration with Datumaro, in one place.

Datumaro 1.13 has no plugin entry points: every ``Environment`` (the ``datum`` CLI's, the default one
behind ``Dataset.import_from``/``export``, fresh ones) registers only the built-ins listed in its
``specs.json``. So we patch the class: once ``datumaro.components.environment`` is imported, its
built-in plugin list has Datumaro's ``mnist``/``mnist_csv`` replaced by ours, as lazy plugins, so our
modules load only when a format is used.

This module is imported at interpreter start-up (by ``datumaro_mnist_plugins.pth``), so it imports
nothing but ``sys``: until Datumaro itself is imported, the whole cost is one meta-path finder that
ignores every module but one. Set ``DATUMARO_MNIST_PLUGINS_DISABLE=1`` to skip the start-up hook.
"""

# no `from __future__ import annotations`: importing __future__ would be a third of this module's start-up cost
import sys

ENV_SWITCH = "DATUMARO_MNIST_PLUGINS_DISABLE"
_ENVIRONMENT_MODULE = "datumaro.components.environment"
_PATCHED = "_datumaro_mnist_plugins_patched"

#: What we register: (format name, Datumaro plugin type, import path, importer file extensions).
PLUGINS = (
    ("mnist", "DatasetBase", "datumaro_mnist_plugins.mnist.MnistBase", None),
    ("mnist", "Importer", "datumaro_mnist_plugins.mnist.MnistImporter", [".gz", ".xz", ".bz2", ""]),
    ("mnist", "Exporter", "datumaro_mnist_plugins.mnist.MnistExporter", None),
    ("mnist_csv", "DatasetBase", "datumaro_mnist_plugins.mnist_csv.MnistCsvBase", None),
    ("mnist_csv", "Importer", "datumaro_mnist_plugins.mnist_csv.MnistCsvImporter", [".csv"]),
    ("mnist_csv", "Exporter", "datumaro_mnist_plugins.mnist_csv.MnistCsvExporter", None),
    ("mnist_synthetic", "DatasetBase", "datumaro_mnist_plugins.mnist_synthetic.MnistSyntheticBase", None),
    ("mnist_synthetic", "Importer", "datumaro_mnist_plugins.mnist_synthetic.MnistSyntheticImporter", [".yaml", ".yml", ".json"]),
    ("mnist_synthetic", "Exporter", "datumaro_mnist_plugins.mnist_synthetic.MnistSyntheticExporter", None),
    ("mnist_synthetic", "DatasetGenerator", "datumaro_mnist_plugins.mnist_synthetic.MnistSyntheticGenerator", None),
    ("gray_to_rgb", "Transform", "datumaro_mnist_plugins.transforms.GrayToRgb", None),
)
#: Every name we register (a built-in of the same name is replaced); the dataset formats among them.
PLUGIN_NAMES = frozenset(name for name, *_ in PLUGINS)
FORMAT_NAMES = frozenset(name for name, kind, *_ in PLUGINS if kind != "Transform")


def importer_extensions(format_name: str) -> list:
    """The file extensions the importer of *format_name* reads (its ``get_file_extensions``), from the table."""
    return next(list(exts) for name, kind, _, exts in PLUGINS if name == format_name and kind == "Importer")


def install() -> None:
    """Register now if Datumaro's environment is loaded, otherwise as soon as it is imported."""
    module = sys.modules.get(_ENVIRONMENT_MODULE)
    if module is not None:
        _patch_safely(module)
    elif not any(isinstance(finder, _EnvironmentImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _EnvironmentImportHook())


class _EnvironmentImportHook:
    """A meta-path finder that waits for Datumaro's environment module and patches it once executed."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _ENVIRONMENT_MODULE:
            return None
        sys.meta_path.remove(self)  # one shot
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_register(module):
            exec_module(module)
            _patch_safely(module)

        loader.exec_module = exec_and_register
        return spec


def _patch_safely(env_module) -> None:
    try:
        _patch(env_module)
    except Exception as e:  # never break the interpreter or Datumaro: fall back to the built-ins
        import warnings

        warnings.warn(
            f"datumaro_mnist_plugins could not register its formats ({type(e).__name__}: {e}); "
            "Datumaro's built-in formats stay in use",
            RuntimeWarning,
            stacklevel=2,
        )


def _our_plugins():
    from datumaro.components.lazy_plugin import get_lazy_plugin

    return [
        get_lazy_plugin(path, name, kind, [], {"file_extensions": exts} if exts is not None else {})
        for name, kind, path, exts in PLUGINS
    ]


def _is_replaced(plugin) -> bool:
    return getattr(plugin, "NAME", None) in PLUGIN_NAMES


def _patch(env_module) -> None:
    Environment = env_module.Environment
    if getattr(Environment, _PATCHED, False):
        return
    ours = _our_plugins()

    def with_ours(loader):
        def load(cls):
            return [p for p in loader.__func__(cls) if not _is_replaced(p)] + ours

        return classmethod(load)

    Environment._load_builtin_plugins = with_ours(Environment._load_builtin_plugins)
    Environment._load_builtin_plugins_from_importlib = with_ours(Environment._load_builtin_plugins_from_importlib)
    Environment.detect_dataset = _skipping_unloadable_importers(Environment.detect_dataset)
    setattr(Environment, _PATCHED, True)
    from .error_lines import install as complete_error_lines

    complete_error_lines()  # the CLI's first line for an error of ours names the file and the reason

    # An environment that already registered the built-ins (registration after first use) is updated.
    default = getattr(env_module, "DEFAULT_ENVIRONMENT", None)
    if default is not None and default._builtins_initialized:
        replace_in(default, ours)


def replace_in(env, plugins) -> None:
    """Replace the plugins of *env* named like ours with *plugins*, keeping each name registered once."""
    for registry in (env.extractors, env.importers, env.exporters, env.generators, env.transforms, env.validators):
        for name in PLUGIN_NAMES & set(registry):
            registry.unregister(name)
        groups = getattr(registry, "extension_groups", None)
        if groups is not None:
            for ext, entries in groups.items():
                entries[:] = [(n, p) for n, p in entries if n not in PLUGIN_NAMES]
    env.register_plugins(plugins)


def _skipping_unloadable_importers(detect_dataset):
    """Make detection skip importers whose modules can't load (e.g. ``brats`` without ``nibabel``).

    Stock Datumaro loads every importer of a file extension to detect a format, and one missing
    optional dependency crashes ``datum detect`` on any folder of ``.gz`` files.
    """

    def detect(self, path, *args, **kwargs):
        from datumaro.components.lazy_plugin import LazyPlugin

        for entries in self.importers.extension_groups.values():
            for entry in list(entries):
                name, plugin = entry
                if isinstance(plugin, type) and issubclass(plugin, LazyPlugin):
                    try:
                        plugin.get_plugin_cls()
                    except ImportError as e:
                        import logging

                        logging.getLogger(__name__).debug("format '%s' can't be detected: %s", name, e)
                        entries.remove(entry)
        return detect_dataset(self, path, *args, **kwargs)

    detect.__wrapped__ = detect_dataset
    return detect
