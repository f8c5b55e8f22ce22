"""Registration: after `pip install`, every way into Datumaro finds our formats, each name once."""

import os
import subprocess
import sys
import types

import pytest

from datumaro_mnist_plugins import registration

from .conftest import run_datum


def python(code: str, **env_overrides) -> str:
    env = {k: v for k, v in os.environ.items() if k != registration.ENV_SWITCH}
    env.update(env_overrides)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


WHO_HANDLES_MNIST = """
from datumaro.components.environment import Environment
env = Environment()
print(env.importers.get("mnist").__module__, env.exporters.get("mnist").__module__, env.extractors.get("mnist").__module__)
"""


def test_a_fresh_interpreter_uses_our_classes_without_importing_us():
    assert python(WHO_HANDLES_MNIST).split() == ["datumaro_mnist_plugins.mnist"] * 3


def test_the_default_and_eager_environments_use_ours_too():
    code = """
import datumaro
from datumaro.components.environment import DEFAULT_ENVIRONMENT, Environment
print(DEFAULT_ENVIRONMENT.exporters.get("mnist").__module__)
print(Environment(use_lazy_import=False).importers.get("mnist").__module__)
"""
    assert python(code).split() == ["datumaro_mnist_plugins.mnist"] * 2


def test_start_up_hook_imports_nothing_heavy():
    code = "import sys; print('datumaro' in sys.modules, 'numpy' in sys.modules, 'datumaro_mnist_plugins' in sys.modules)"
    assert python(code) == "False False True"


def test_the_hook_can_be_switched_off_and_importing_the_package_registers():
    code = WHO_HANDLES_MNIST + """
import datumaro_mnist_plugins
print(Environment().importers.get("mnist").__module__)
from datumaro.components.environment import DEFAULT_ENVIRONMENT
print(DEFAULT_ENVIRONMENT.importers.get("mnist").__module__)
"""
    out = python(code, DATUMARO_MNIST_PLUGINS_DISABLE="1").split()
    assert out[:3] == ["datumaro.plugins.data_formats.mnist"] * 3
    assert out[3:] == ["datumaro_mnist_plugins.mnist"] * 2


def test_registering_after_the_default_environment_was_used_keeps_each_name_once():
    code = """
from datumaro.components.environment import DEFAULT_ENVIRONMENT
DEFAULT_ENVIRONMENT.importers  # the built-ins get registered
import datumaro_mnist_plugins
groups = DEFAULT_ENVIRONMENT.importers.extension_groups
print(sum(name == "mnist" for entries in groups.values() for name, _ in entries), len(groups[".gz"]))
print(DEFAULT_ENVIRONMENT.importers.get("mnist").__module__)
"""
    counts, module = python(code, DATUMARO_MNIST_PLUGINS_DISABLE="1").splitlines()
    assert counts.split()[0] == str(len(registration.PLUGINS[1][3]))  # once per extension
    assert module == "datumaro_mnist_plugins.mnist"


def test_each_format_name_is_registered_once_per_extension():
    code = """
from datumaro.components.environment import Environment
groups = Environment().importers.extension_groups
print(" ".join(f"{ext}:{[n for n, _ in entries].count('mnist')}" for ext, entries in sorted(groups.items()) if any(n == 'mnist' for n, _ in entries)))
"""
    assert python(code) == " ".join(f"{ext}:1" for ext in sorted(registration.PLUGINS[1][3]))


def test_a_failure_inside_the_hook_is_a_warning_not_a_crash():
    broken = types.ModuleType("datumaro.components.environment")  # has no Environment class
    with pytest.warns(RuntimeWarning, match="could not register"):
        registration._patch_safely(broken)


def test_datum_format_lists_each_of_our_formats_once():
    listed = run_datum("format", "--list-import").stdout.split()
    for name in registration.FORMAT_NAMES:
        assert listed.count(name) == 1
    assert run_datum("format", "--list-export").stdout.split().count("mnist") == 1


def test_datum_help_for_our_exporter_describes_it():
    help_text = run_datum("convert", "-i", ".", "-f", "mnist", "--", "--help", check=False).stdout
    assert "--compress-level" in help_text or "IDX" in help_text
