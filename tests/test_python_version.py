"""The Python versions we promise are ones the installed Datumaro supports, and the README says the same."""

from __future__ import annotations

import importlib.metadata
import os.path as osp
import re
from typing import Optional, Tuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def lower_bound(specifier: str) -> Optional[Tuple[int, ...]]:
    """The highest `>=X.Y` (or `>X.Y`, `~=X.Y`) bound in a Requires-Python specifier, None when unbounded."""
    bounds = [
        tuple(int(part) for part in version.split("."))
        for version in re.findall(r"(?:>=|~=|>)\s*([0-9]+(?:\.[0-9]+)*)", specifier)
    ]
    return max(bounds) if bounds else None


def ours() -> str:
    with open(osp.join(REPO, "pyproject.toml"), encoding="utf-8") as f:
        match = re.search(r'^requires-python\s*=\s*"([^"]+)"', f.read(), re.M)
    assert match, "pyproject.toml names no requires-python"
    return match.group(1)


def test_lower_bound_parses_specifiers():
    assert lower_bound("<3.15,>=3.10") == (3, 10)
    assert lower_bound(">=3.9") == (3, 9)
    assert lower_bound("~=3.11") == (3, 11)
    assert lower_bound("<4") is None


def test_we_promise_no_python_the_installed_datumaro_refuses():
    theirs = importlib.metadata.metadata("datumaro")["Requires-Python"] or ""
    needed = lower_bound(theirs)
    promised = lower_bound(ours())
    assert promised is not None, "requires-python has no lower bound"
    if needed is not None:
        assert promised >= needed, f"we promise Python {ours()}, Datumaro requires {theirs}"


def test_readme_states_our_lower_bound():
    promised = ".".join(map(str, lower_bound(ours())))
    with open(osp.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    stated = re.findall(r"Python ≥ ([0-9.]+)", readme)
    assert stated, "the README doesn't say which Python it needs"
    assert set(stated) == {promised}, f"README says Python ≥ {stated}, pyproject says {promised}"
