"""The fuzzer's mutation kinds (``benchmarks/fuzz_kinds.py``, ``fuzz_races.py``): they run clean on our
package, and their oracles do catch what they are for (a planted bug, a hang, a mixed folder)."""

from __future__ import annotations

import os
import os.path as osp
import random
import shutil
import tempfile

import pytest

from .test_faults import FUZZ, fuzz_seeds

import fuzz_kinds  # noqa: E402 - on sys.path once fuzz.py is loaded
import fuzz_races  # noqa: E402


def test_a_run_that_hangs_is_a_crash(tmp_path, monkeypatch):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.setitem(FUZZ.KINDS, "read-a-fifo", (1.0, lambda rng, ctx: open(fifo, "rb").read()))
    monkeypatch.setattr(FUZZ, "TIME_BOUND", 0.5)
    crash = FUZZ.run_one(random.Random(0), fuzz_seeds(), str(tmp_path), kinds=["read-a-fifo"])
    assert crash is not None and crash.signature == "read-a-fifo:hang"


@pytest.mark.parametrize("kind", sorted(FUZZ.FAST_KINDS))
def test_every_in_process_kind_replays_and_finds_nothing(tmp_path, kind):
    for run_seed in range(8):
        crash = FUZZ.run_one(random.Random(run_seed), fuzz_seeds(), str(tmp_path), kinds=[kind])
        assert crash is None, crash.description


def _skipping_what_is_not_a_file(import_from):
    """A planted bug: an import that silently skips directories, FIFOs and devices (issue 12, §10)."""

    def planted(path, fmt, **kwargs):
        with tempfile.TemporaryDirectory() as copy:
            for name in os.listdir(path):
                if osp.isfile(osp.join(path, name)):
                    shutil.copy(osp.join(path, name), copy)
            return import_from(copy, fmt, **kwargs)

    return planted


def test_the_file_kind_oracle_catches_a_silent_skip(tmp_path, monkeypatch):
    from datumaro.components.dataset import Dataset

    monkeypatch.setattr(Dataset, "import_from", staticmethod(_skipping_what_is_not_a_file(Dataset.import_from)))
    seed = next(s for s in fuzz_seeds() if s.name == "raw+meta")
    ctx = fuzz_kinds.Context(fuzz_seeds(), str(tmp_path), FUZZ.write_folder, FUZZ.check_folder)
    ctx.write_folder(osp.join(ctx.workdir, "case"), {**seed.files, "t10k-labels-idx1-ubyte": "<directory>"})
    crash = fuzz_kinds._import_reporting(ctx, seed, "t10k-labels-idx1-ubyte", "<directory>")
    assert crash is not None and "silently-skipped" in crash.signature


def test_the_race_oracle_catches_a_mixed_folder_and_a_lost_user_file(tmp_path):
    parent, out = tmp_path, str(tmp_path / "out")
    (tmp_path / "notes.txt").write_bytes(fuzz_races.FOREIGN["notes.txt"])
    first, second = fuzz_races.race_dataset(1, 6), fuzz_races.race_dataset(3, 6)
    second.export(str(tmp_path / "other"), "mnist", save_media=True)
    first.export(out, "mnist", save_media=True)
    allowed = [fuzz_races.contents(first), fuzz_races.contents(second)]
    assert fuzz_races._state(str(parent), out, "mnist", allowed, "t", inside=False) is None
    shutil.copy(tmp_path / "other" / "train-labels-idx1-ubyte.gz", out)  # half of one export, half of another
    assert "not-one-export" in fuzz_races._state(str(parent), out, "mnist", allowed, "t", inside=False).signature
    (tmp_path / "notes.txt").unlink()
    assert "foreign-file-lost" in fuzz_races._state(str(parent), out, "mnist", allowed, "t", inside=False).signature


@pytest.mark.parametrize("kind, run_seed", [("concurrent-export", 8), ("killed-export", 3)])  # 8: two processes
def test_racing_and_killed_exports_leave_one_complete_export(tmp_path, kind, run_seed):
    """Processes exporting at once, or one killed at a random moment: see ``fuzz_races.py``'s oracle."""
    crash = FUZZ.run_one(random.Random(run_seed), fuzz_seeds(), str(tmp_path), kinds=[kind])
    assert crash is None, crash.description


def test_recipe_mutations_never_change_their_tables():
    """A mutation once wrote into a shared value of the tables: recipes grew cycles, the fuzzer recursed."""
    import copy

    import fuzz_recipes

    tables = (fuzz_recipes.BASE_RECIPES, fuzz_recipes.HOSTILE_VALUES, fuzz_recipes.PLAUSIBLE_VALUES)
    before = repr(copy.deepcopy(tables))
    for run_seed in range(3000):
        fuzz_recipes._recipe_text(random.Random(run_seed))
    assert repr(tables) == before
