"""Every example in README.md and docs/*.md runs as written, so the docs can't drift from the code.

Each page's ```sh, ```console and ```python blocks run in order in one temporary folder holding copies of
``assets/`` and ``benchmarks/`` (later blocks may use what earlier ones wrote), with this environment's
``bin/`` first on PATH: sh blocks as one bash script, console blocks command by command (a ``$ `` prompt
marks a command; the lines after it are its output, checked loosely: every word shown must be printed,
``...`` standing for any text; a command shown printing an ``ERROR:`` line must fail),
Python blocks in a subprocess. A block that can't run by design says so just before it, as
``<!-- not-run: reason -->``; NOT_RUN below counts them per page, so none is skipped silently.
"""

from __future__ import annotations

import glob
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
from typing import Dict, List, NamedTuple, Optional, Tuple

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RUN_LANGUAGES = {"sh", "bash", "console", "python"}
#: Blocks marked ``<!-- not-run: ... -->``, per page. Adding a marker means adding it here, on purpose.
NOT_RUN: Dict[str, int] = {
    "README.md": 2,  # the two set-up commands: they create a venv and install (CI runs the second one)
    "docs/benchmarks.md": 1,
    "docs/safety.md": 1,
    "docs/synthetic.md": 1,
    "docs/training.md": 1,  # the torchvision loaders: torchvision is not a dependency
}
_FENCE = re.compile(r"^```([\w-]*)\s*$")
_NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(\S.*?)\s*-->$")


class Block(NamedTuple):
    page: str
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    not_run: Optional[str]  # the reason, when marked


def pages() -> List[str]:
    return ["README.md"] + sorted(
        osp.relpath(p, REPO).replace(os.sep, "/") for p in glob.glob(osp.join(REPO, "docs", "*.md"))
    )


def blocks_of(page: str) -> List[Block]:
    with open(osp.join(REPO, page), encoding="utf-8") as f:
        lines = f.read().splitlines()
    found, i = [], 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        assert end is not None, f"{page}:{i + 1}: a code block that is never closed"
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = _NOT_RUN.match(before)
        found.append(Block(page, i + 1, match[1], "\n".join(lines[i + 1 : end]) + "\n", marker and marker[1]))
        i = end + 1
    return found


def console_commands(text: str) -> List[Tuple[str, List[str]]]:
    """``$ cmd`` (continued by trailing backslashes) and the output lines shown after it."""
    commands: List[Tuple[str, List[str]]] = []
    continued = False
    for line in text.splitlines():
        if continued:
            commands[-1] = (commands[-1][0] + "\n" + line, commands[-1][1])
        elif line.startswith("$ "):
            commands.append((line[2:], []))
        else:
            assert commands, f"output shown before any command: {line!r}"
            commands[-1][1].append(line)
        continued = line.endswith("\\")
    return commands


def sandbox(tmp_path) -> Tuple[str, Dict[str, str]]:
    for folder in ("assets", "benchmarks"):
        shutil.copytree(osp.join(REPO, folder), tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "out"))
    env = dict(os.environ, PATH=osp.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return str(tmp_path), env


def run(args: List[str], where: str, cwd: str, env: Dict[str, str], fails: bool = False) -> str:
    """Run a command; it must succeed, or fail when *fails* (the docs show its ERROR line)."""
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    output = result.stdout + result.stderr
    if fails:
        assert result.returncode != 0, f"{where} was shown failing, but succeeded:\n{output[-3000:]}"
    else:
        assert result.returncode == 0, f"{where} failed ({result.returncode}):\n{output[-3000:]}"
    return output


def shown_word_printed(word: str, printed: List[str]) -> bool:
    """A word shown in the docs is printed; '...' inside it stands for any text (a temporary path)."""
    pattern = re.compile(".*".join(re.escape(piece) for piece in word.split("...")), re.S)
    return any(pattern.fullmatch(candidate) for candidate in printed)


def check_shown_output(where: str, shown: List[str], output: str) -> None:
    """Loosely: every word of the output shown in the docs (but '...') is in what the command printed."""
    printed = output.split()
    for line in shown:
        missing = [word for word in line.split() if word != "..." and not shown_word_printed(word, printed)]
        assert not missing, f"{where}: the docs show {line!r}, but {missing} wasn't printed:\n{output[-2000:]}"


def run_block(block: Block, cwd: str, env: Dict[str, str]) -> None:
    where = f"{block.page}:{block.line}"
    if block.language == "python":
        script = osp.join(cwd, f"_block_{block.line}.py")
        with open(script, "w", encoding="utf-8") as f:
            f.write(block.text)
        run([sys.executable, script], where, cwd, env)
    elif block.language == "console":
        for command, shown in console_commands(block.text):
            fails = any(line.startswith("ERROR:") for line in shown)
            output = run(["bash", "-euo", "pipefail", "-c", command], f"{where}: $ {command}", cwd, env, fails)
            check_shown_output(f"{where}: $ {command}", shown, output)
    else:
        run(["bash", "-euo", "pipefail", "-c", block.text], where, cwd, env)


def git_ignores(names: List[str]) -> List[str]:
    """Which of these top-level paths (a trailing '/' for a folder) the repository's .gitignore ignores."""
    result = subprocess.run(["git", "-C", REPO, "check-ignore", "--no-index", *names], capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout.split()


def in_a_git_checkout() -> bool:
    return shutil.which("git") is not None and osp.exists(osp.join(REPO, ".git"))


@pytest.mark.parametrize("page", pages())
def test_every_example_runs(page, tmp_path):
    cwd, env = sandbox(tmp_path)
    before = set(os.listdir(cwd))
    for block in blocks_of(page):
        if block.language in RUN_LANGUAGES and not block.not_run:
            run_block(block, cwd, env)
    written = [
        name + ("/" if osp.isdir(osp.join(cwd, name)) else "")
        for name in sorted(set(os.listdir(cwd)) - before)
        if not name.startswith("_block_")
    ]
    if written and in_a_git_checkout():  # run in a checkout, the examples leave nothing for `git status`
        ignored = git_ignores(written)
        assert sorted(ignored) == sorted(written), f"{page}: add to .gitignore: {sorted(set(written) - set(ignored))}"


def test_blocks_not_run_are_counted():
    """A docs writer can't skip an example silently: each not-run marker is counted here, with a reason."""
    counted = {}
    for page in pages():
        marked = [b for b in blocks_of(page) if b.not_run]
        for block in marked:
            assert block.language in RUN_LANGUAGES, f"{page}:{block.line}: not-run marks a block that isn't run anyway"
        if marked:
            counted[page] = len(marked)
    assert counted == NOT_RUN, "not-run markers changed: update NOT_RUN in tests/test_docs_examples.py on purpose"


def test_no_block_hides_behind_a_language_alias():
    """Fences with a language this test doesn't run (```shell, ```py ...) would escape it: use sh/console/python."""
    aliases = {"shell", "zsh", "py", "python3", "pycon", "ipython"}
    for page in pages():
        for block in blocks_of(page):
            assert block.language not in aliases, f"{page}:{block.line}: ```{block.language} is not run; use sh, console or python"


def test_the_main_job_runs_on_the_small_recipe(tmp_path):
    """The README's main job, exactly as written but on the 300-digit recipe (CI has no minute to spare)."""
    first = next(b for b in blocks_of("README.md") if b.language == "sh")
    command = first.text.strip().split(" && ")[-1]
    assert command.startswith(".venv/bin/datum convert ") and "assets/recipes/mnist.yaml" in command, command
    command = command.replace(".venv/bin/datum", "datum").replace("assets/recipes/mnist.yaml", "assets/recipes/small.yaml")
    cwd, env = sandbox(tmp_path)
    run(["bash", "-euo", "pipefail", "-c", command], "README.md: the main job", cwd, env)
    names = sorted(os.listdir(osp.join(cwd, "mnist-synthetic")))
    assert "train-images-idx3-ubyte.gz" in names and "t10k-images-idx3-ubyte.gz" in names, names


def test_the_readme_test_command_is_what_ci_runs():
    second = [b for b in blocks_of("README.md") if b.language == "sh"][1]
    with open(osp.join(REPO, ".ci", "run"), encoding="utf-8") as f:
        assert second.text.strip() in f.read().splitlines()


def test_benchmark_tables_go_to_an_ignored_file_unless_recorded():
    import importlib.util

    spec = importlib.util.spec_from_file_location("benchmarks_run", osp.join(REPO, "benchmarks", "run.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    default = osp.relpath(module.DEFAULT_MARKDOWN, REPO).replace(os.sep, "/")
    recorded = osp.relpath(module.RECORDED_MARKDOWN, REPO).replace(os.sep, "/")
    assert recorded == "benchmarks/latest.md" and osp.isfile(module.RECORDED_MARKDOWN)
    if in_a_git_checkout():
        assert git_ignores([default, ".bench/"]) == [default, ".bench/"]
        assert git_ignores([recorded]) == []


def test_recipes_shown_in_the_docs_load(tmp_path):
    """```yaml blocks that are recipes (they set a seed) are valid recipes, comments and all."""
    from datumaro_mnist_plugins.mnist_synthetic import load_recipe

    recipes = [b for page in pages() for b in blocks_of(page) if b.language == "yaml" and "seed:" in b.text]
    assert recipes, "the docs show no recipe"
    for block in recipes:
        path = tmp_path / f"recipe-{block.line}.yaml"
        path.write_text(block.text, encoding="utf-8")
        load_recipe(str(path))


def test_the_recipe_reference_shows_the_defaults():
    """The recipe whose style lists "every knob" shows each knob at its default, so the reference
    cannot drift from ``DigitStyle`` when a default is tuned."""
    import dataclasses

    import yaml

    from datumaro_mnist_plugins.synthetic.style import DigitStyle

    blocks = [b for page in pages() for b in blocks_of(page) if b.language == "yaml" and "every knob" in b.text]
    assert blocks, "the docs show no recipe with every style knob"
    defaults = {name: list(value) if isinstance(value, tuple) else value
                for name, value in dataclasses.asdict(DigitStyle()).items()}
    for block in blocks:
        assert yaml.safe_load(block.text)["style"] == defaults, f"{block.page}:{block.line}"


def test_shown_output_is_checked():
    printed = "2026-01-01 ERROR: Failed at '/tmp/x/bad.yaml': 'style.slant' is not allowed\n"
    check_shown_output("ok", ["ERROR: Failed at '.../bad.yaml': 'style.slant' ..."], printed)
    for wrong in ["ERROR: Failed at '.../good.yaml':", "'style.slang'", "WARNING:"]:
        with pytest.raises(AssertionError):
            check_shown_output("wrong", [wrong], printed)
    assert console_commands("$ a \\\n  b\nout\n$ c\n") == [("a \\\n  b", ["out"]), ("c", [])]
