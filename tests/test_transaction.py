"""Exports lose nothing: the commit under faults at every step, kill -9, concurrent exporters, in-place exports.

The mechanism (``transaction.py``) is tested on plain files first, where every file-system call it makes
can be failed or turned into a SIGKILL one at a time, cheaply; then through Datumaro's exporters and
importers, which must use it (in-place exports, recovery on import, processes racing for one folder).
"""

import errno
import gzip
import os
import os.path as osp
import random
import signal
import time
from contextlib import contextmanager

import numpy as np
import pytest

from datumaro.components.annotation import AnnotationType, Label, LabelCategories
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatumaroError
from datumaro.components.media import Image

from datumaro_mnist_plugins import transaction

from .conftest import assert_same_items, error_text, leftovers, run_datum

ERRORS = [errno.EBUSY, errno.EXDEV, errno.EACCES, errno.ENOSPC]
FORMATS = ["mnist", "mnist_csv"]
DEFAULT_RECIPE = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), "assets", "recipes", "mnist.yaml")

# An old export with a user's files beside it, and a new export that replaces some entries, adds some,
# drops one ("gone.bin": a subset that is no more), and turns a file into a folder ("swap").
OLD = {
    "a.bin": b"old a", "gone.bin": b"old only", "swap": b"old file", "images/0.png": b"old 0",
    "images/sub/1.png": b"old 1", "NOTES.md": b"mine", "other/x.txt": b"theirs",
}
NEW = {"a.bin": b"new a", "b.bin": b"new b", "swap/inner.bin": b"now a folder", "images/0.png": b"new 0"}
OWNED = {"a.bin", "b.bin", "gone.bin", "swap", "images"}
FOREIGN = {name: data for name, data in OLD.items() if name.split("/")[0] not in OWNED}


# --- helpers -------------------------------------------------------------------------------------------


def write_tree(folder, files):
    for name, data in files.items():
        path = osp.join(folder, name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def tree(folder):
    """Every file under *folder* with its bytes, and every folder (as "name/": None)."""
    found = {}
    for root, dirs, files in os.walk(folder):
        rel = osp.relpath(root, folder)
        for name in dirs:
            found[osp.normpath(osp.join(rel, name)) + "/"] = None
        for name in files:
            with open(osp.join(root, name), "rb") as f:
                found[osp.normpath(osp.join(rel, name))] = f.read()
    return found


def expected(files):
    folder_names = {osp.join(*name.split("/")[:i]) + "/" for name in files for i in range(1, name.count("/") + 1)}
    return {**dict.fromkeys(folder_names), **files}


OLD_TREE, NEW_TREE = expected(OLD), expected({**FOREIGN, **NEW})


def export(dest, files=NEW):
    with transaction.staged_export(str(dest), OWNED.__contains__) as staging:
        write_tree(staging, files)


class Faults:
    """Stands in for ``os``, ``shutil`` and ``fcntl`` in transaction.py: numbers every file-system step
    and fails (or dies at) the chosen ones.

    An fsync is a step that can fail, but is not performed: these tests kill processes, not the power,
    and thousands of real fsyncs would only make them slow.
    """

    STEPS = {"open", "write", "fsync", "replace", "rename", "link", "unlink", "remove", "rmdir", "mkdir",
             "makedirs", "listdir", "rmtree", "flock"}

    def __init__(self, fail_at=(), error=errno.EBUSY, kill_at=None):
        self.fail_at, self.error, self.kill_at = set(fail_at), error, kill_at
        self.calls, self.failed = 0, []

    def view(self, module):
        faults = self

        class View:
            def __getattr__(self, name):
                real = getattr(module, name)
                if name not in Faults.STEPS:
                    return real

                def step(*args, **kwargs):
                    faults.calls += 1
                    if faults.calls == faults.kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
                    if faults.calls in faults.fail_at:
                        faults.failed.append(name)
                        raise OSError(faults.error, f"injected {errno.errorcode[faults.error]} in {name}")
                    return None if name == "fsync" else real(*args, **kwargs)

                return step

        return View()

    @contextmanager
    def installed(self, monkeypatch):
        import fcntl
        import shutil

        with monkeypatch.context() as m:
            for name, module in (("os", os), ("shutil", shutil), ("fcntl", fcntl)):
                m.setattr(transaction, name, self.view(module))
            yield self


@pytest.fixture
def fs_path(tmp_path):
    """Where the plain-file tests run thousands of commits: memory (tmpfs) when there is one, as the
    mechanism is the same on any POSIX file system and a disk's metadata writes would only slow them."""
    if not osp.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        yield tmp_path
        return
    import shutil
    import tempfile
    from pathlib import Path

    folder = tempfile.mkdtemp(prefix="test-transaction-", dir="/dev/shm")
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def assert_settles(dest, raised, monkeypatch):
    """Recovery (and then a clean export) leaves the old or the new export exactly, and nothing beside it."""
    with Faults().installed(monkeypatch):
        settle(dest, raised)


def settle(dest, raised):
    transaction.recover(str(dest))
    state = tree(dest)
    assert state in (OLD_TREE, NEW_TREE)
    if not raised:
        assert state == NEW_TREE, "an export that reported success must be the one there"
    export(dest)  # the next export removes what a failed or killed one left beside the folder
    assert tree(dest) == NEW_TREE
    assert leftovers(osp.dirname(dest)) == []


def steps_of_a_clean_export(tmp_path, monkeypatch):
    write_tree(tmp_path / "count" / "out", OLD)
    with Faults().installed(monkeypatch) as faults:
        export(tmp_path / "count" / "out")
    return faults.calls


# --- (a) a failure at every step, (b) and another in the rollback --------------------------------------


@pytest.mark.parametrize("error", ERRORS, ids=[errno.errorcode[e] for e in ERRORS])
def test_a_failure_at_any_step_leaves_the_old_or_the_new_export_exactly(fs_path, monkeypatch, error):
    steps = steps_of_a_clean_export(fs_path, monkeypatch)
    assert steps > 20  # lock, staging, journal, one move per entry...
    for k in range(1, steps + 1):
        dest = fs_path / f"k{k}" / "out"
        write_tree(dest, OLD)
        with Faults({k}, error).installed(monkeypatch) as faults:
            try:
                export(dest)
                raised = False
            except OSError as e:
                assert "injected" in str(e), e
                raised = True
        assert faults.failed, f"step {k} of {steps} was not reached"
        # the commit rolls back by itself: a failed export left the old one, a successful one the new one
        assert tree(dest) == (OLD_TREE if raised else NEW_TREE), f"failed {faults.failed} at step {k}"
        assert_settles(dest, raised, monkeypatch)


def test_a_failure_in_the_rollback_is_finished_by_the_next_import_or_export(fs_path, monkeypatch):
    steps = steps_of_a_clean_export(fs_path, monkeypatch)
    runs = 0
    for k in range(1, steps + 1):
        for second in range(k + 1, steps + 40):
            dest = fs_path / f"k{k}-{second}" / "out"
            write_tree(dest, OLD)
            with Faults({k, second}, ERRORS[runs % len(ERRORS)]).installed(monkeypatch) as faults:
                try:
                    export(dest)
                    raised = False
                except OSError:
                    raised = True
            runs += 1
            if not osp.lexists(transaction.Destination.of(str(dest)).journal):
                assert tree(dest) == (OLD_TREE if raised else NEW_TREE), f"failed {faults.failed} at {k}, {second}"
            assert_settles(dest, raised, monkeypatch)
            if len(faults.failed) < 2:
                break  # the export ended before the second step: later ones are not reached either
    assert runs > steps


# --- (c) kill -9 at every step of the commit, and of the recovery ------------------------------------------


def killed_at(step, action):
    """Run *action* in a forked child that SIGKILLs itself at file-system step *step*; did it die?"""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            faults = Faults(kill_at=step)
            transaction.os, transaction.shutil = faults.view(os), faults.view(__import__("shutil"))
            transaction.fcntl = faults.view(__import__("fcntl"))
            action()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_kill_9_at_any_step_of_the_commit_or_of_its_recovery(fs_path, monkeypatch):
    steps = steps_of_a_clean_export(fs_path, monkeypatch)
    for k in range(1, steps + 1):
        dest = fs_path / f"k{k}" / "out"
        write_tree(dest, OLD)
        assert killed_at(k, lambda: export(dest)), f"step {k} of {steps} was not reached"
        for j in range(1, 100):  # recoveries killed at step 1, 2, ... until one finishes
            if not killed_at(j, lambda: transaction.recover(str(dest))):
                break
        assert_settles(dest, True, monkeypatch)


# --- (e) dead staging folders, and only those ---------------------------------------------------------------


def staging_folder(parent, base, owner_file=True):
    path = parent / f"{transaction.STAGING_PREFIX}{base}-{os.urandom(16).hex()}"
    path.mkdir()
    (path / "half-written.bin").write_bytes(b"x")
    if owner_file:
        (path / ".datumaro-owner.lock").touch()
    return path


def test_only_the_dead_staging_folders_of_this_destination_are_removed(tmp_path):
    import fcntl

    dead, dead_without_owner_file = staging_folder(tmp_path, "out"), staging_folder(tmp_path, "out", False)
    live, sibling_dead = staging_folder(tmp_path, "out"), staging_folder(tmp_path, "out-2")
    not_staging = tmp_path / f"{transaction.STAGING_PREFIX}out-notes"
    not_staging.mkdir()
    owner = os.open(live / ".datumaro-owner.lock", os.O_RDWR)
    fcntl.flock(owner, fcntl.LOCK_EX)  # held, as a live export holds it
    try:
        export(tmp_path / "out")
        assert not dead.exists() and not dead_without_owner_file.exists()
        assert (live / "half-written.bin").exists(), "the staging folder of a live export was removed"
        assert sibling_dead.exists() and not_staging.exists(), "another destination's folder was removed"
    finally:
        os.close(owner)
    export(tmp_path / "out")  # its owner is gone now
    assert sorted(os.listdir(tmp_path)) == sorted(["out", sibling_dead.name, not_staging.name])


# --- the journal: recovered on import, and never trusted blindly ----------------------------------------------


def test_a_damaged_or_hostile_journal_is_a_clear_import_error_and_moves_nothing(tmp_path):
    out = tmp_path / "out"
    digits(3, 1).export(str(out), "mnist", save_media=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    journal = transaction.Destination.of(str(out)).journal
    before = tree(tmp_path)
    staging = f"{transaction.STAGING_PREFIX}out-{'0' * 32}"
    for text in ["{not json", '{"version": 1, "staging": "%s", "new": ["../victim.txt"], "old": []}' % staging]:
        with open(journal, "w") as f:
            f.write(text)
        with pytest.raises(DatumaroError) as info:
            Dataset.import_from(str(out), "mnist")
        assert "interrupted mid-commit" in error_text(info.value) and str(out) in error_text(info.value)
        os.unlink(journal)
        assert tree(tmp_path) == before


# --- through Datumaro: kill -9 of a real export, then an import recovers ---------------------------------------


def digits(count, value, subsets=("train",)):
    return Dataset.from_iterable(
        [
            DatasetItem(id=str(i), subset=subset, media=Image.from_numpy(data=np.full((28, 28), value + i, np.uint8)),
                        annotations=[Label(value % 10)])
            for subset in subsets
            for i in range(count)
        ],
        categories={AnnotationType.label: LabelCategories.from_iterable("0123456789")},
    )


def forked(action, kill_at=None):
    """Start *action* in a forked child (a real process: its own locks and descriptors); its pid.

    With *kill_at*, the child SIGKILLs itself at that file-system step of the commit. It exits 0 when
    *action* succeeds, 1 when it raises, and never returns into pytest.
    """
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        if kill_at is not None:
            faults = Faults(kill_at=kill_at)
            transaction.os, transaction.shutil = faults.view(os), faults.view(__import__("shutil"))
            transaction.fcntl = faults.view(__import__("fcntl"))
        action()
        code = 0
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def exit_status(pid):
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


@pytest.mark.parametrize("fmt", FORMATS)
def test_kill_9_during_a_real_commit_then_an_import_sees_the_old_or_the_new_dataset(tmp_path, monkeypatch, fmt):
    old, new = digits(5, 0), digits(7, 50, subsets=("train", "extra"))

    def export_new(out):
        return lambda: new.export(str(out), fmt, save_media=True, image_ext=".png")

    old.export(str(tmp_path / "count" / "out"), fmt, save_media=True, image_ext=".png")
    with Faults().installed(monkeypatch) as faults:
        export_new(tmp_path / "count" / "out")()
    for step in sorted(random.Random(12).sample(range(1, faults.calls + 1), 8)):
        out = tmp_path / f"k{step}" / "out"
        old.export(str(out), fmt, save_media=True, image_ext=".png")
        (out / "NOTES.md").write_text("mine")
        assert exit_status(forked(export_new(out), kill_at=step)) == -signal.SIGKILL
        back = Dataset.import_from(str(out), fmt)  # the import finishes the commit first
        assert_same_items(old if len(back) == len(old) else new, back)
        assert (out / "NOTES.md").read_text() == "mine"
        assert (out / "images" / "extra").exists() == (len(back) == len(new))  # images/ goes with the data
        digits(2, 9).export(str(out), fmt, save_media=True)
        assert leftovers(out.parent) == []  # the next export removes what the killed one left beside


def synthetic(count):
    return Dataset.import_from(DEFAULT_RECIPE, "mnist_synthetic", subsets={"train": count})


def test_kill_9_during_a_synthetic_export_then_its_import_sees_the_old_or_the_new_recipe(tmp_path, monkeypatch):
    def export_new(out):
        return lambda: synthetic(20).export(str(out), "mnist_synthetic", save_media=True)

    synthetic(10).export(str(tmp_path / "count" / "out"), "mnist_synthetic", save_media=True)
    with Faults().installed(monkeypatch) as faults:
        export_new(tmp_path / "count" / "out")()
    for step in sorted(random.Random(5).sample(range(1, faults.calls + 1), 6)):
        out = tmp_path / f"k{step}" / "out"
        synthetic(10).export(str(out), "mnist_synthetic", save_media=True)
        assert exit_status(forked(export_new(out), kill_at=step)) == -signal.SIGKILL
        assert len(Dataset.import_from(str(out), "mnist_synthetic")) in (10, 20)  # recovered on import
        assert not osp.lexists(transaction.Destination.of(str(out)).journal)


def test_importing_a_parent_folder_recovers_each_dataset_folder_it_searches(tmp_path, monkeypatch):
    out = tmp_path / "parent" / "a"
    digits(3, 0).export(str(out), "mnist", save_media=True)
    journal = transaction.Destination.of(str(out)).journal
    with Faults().installed(monkeypatch) as faults:
        digits(3, 0).export(str(out), "mnist", save_media=True)
    for step in range(faults.calls, 0, -1):  # the last step that dies with the journal written
        assert exit_status(forked(lambda: digits(4, 9).export(str(out), "mnist", save_media=True), step)) != 0
        if osp.lexists(journal):
            break
    assert osp.lexists(journal)
    back = Dataset.import_from(str(tmp_path / "parent"), "mnist")  # finds "a" one level down
    assert len(back) in (3, 4) and not osp.lexists(journal)


# --- (d) processes exporting to one folder at once -------------------------------------------------------------


def racing_export(out, fmt, value, processes, log):
    """One of *processes* exports racing for *out*: all start together; commits are logged in order."""
    commit = transaction._commit

    def logged_commit(*args):  # runs with the destination's lock held: the log is in commit order
        commit(*args)
        with open(log, "a") as f:
            f.write(f"{value}\n")

    def race():
        transaction._commit = logged_commit
        dataset = digits(40 + value, value)
        open(f"{out}.ready{value}", "w").close()
        while sum(name.startswith("out.ready") for name in os.listdir(osp.dirname(out))) < processes:
            time.sleep(0.002)
        dataset.export(str(out), fmt, save_media=True, image_ext=".png")

    return race


@pytest.mark.parametrize("fmt, processes", [("mnist", 2), ("mnist_csv", 4)])
def test_processes_exporting_to_one_folder_at_once_leave_exactly_the_last_one(tmp_path, fmt, processes):
    out, log = tmp_path / "out", tmp_path / "commits.log"
    digits(3, 200).export(str(out), fmt, save_media=True)
    (out / "NOTES.md").write_text("mine")
    pids = [forked(racing_export(out, fmt, value, processes, log)) for value in range(1, processes + 1)]
    assert [exit_status(pid) for pid in pids] == [0] * processes  # all succeeded: no staging folder was taken
    order = [int(line) for line in log.read_text().split()]
    assert sorted(order) == list(range(1, processes + 1))  # one commit each, one after the other
    assert_same_items(digits(40 + order[-1], order[-1]), Dataset.import_from(str(out), fmt))
    assert len(os.listdir(out / "images" / "train")) == 40 + order[-1]
    assert (out / "NOTES.md").read_text() == "mine"
    assert leftovers(tmp_path, ["out", "commits.log", *(f"out.ready{v}" for v in order)]) == []


# --- (f) in-place exports keep what is not the format's, while the source is read lazily -----------------------


def raw_idx_folder(folder, count=30):
    """A dataset of raw IDX files (read lazily on import), a user's notes and another folder beside it."""
    digits(count, 100, subsets=("train", "test")).export(str(folder), "mnist", save_media=True)
    for name in os.listdir(folder):
        if name.endswith(".gz"):
            with gzip.open(folder / name) as f:
                (folder / name[:-3]).write_bytes(f.read())
            os.unlink(folder / name)
    (folder / "NOTES.md").write_text("mine")
    (folder / "other").mkdir()
    (folder / "other" / "keep.txt").write_text("theirs")
    return Dataset.import_from(str(folder), "mnist")


def foreign(folder):
    return {name: data for name, data in tree(folder).items() if name.startswith(("NOTES.md", "other"))}


@pytest.mark.parametrize("how", ["export", "save", "save-changed"])
def test_an_in_place_export_keeps_other_files_while_the_source_is_read_lazily(tmp_path, how):
    folder = tmp_path / "data"
    dataset = raw_idx_folder(folder)  # nothing read yet: the export reads the raw files it replaces
    kept = foreign(folder)
    expected_items = digits(30, 100, subsets=("train", "test"))
    if how == "export":
        dataset.export(str(folder), "mnist", save_media=True, image_ext=".png")
    elif how == "save":
        dataset.save(save_media=True)
    else:  # Datumaro's patch path with a real change: an item removed
        dataset.remove("0", "test")
        expected_items.remove("0", "test")
        dataset.save(save_media=True)
    assert foreign(folder) == kept
    expected_items.export(str(tmp_path / "fresh"), "mnist", save_media=True, image_ext=".png" if how == "export" else None)
    # the format's files are those of a fresh export: the raw files it replaced with .gz ones are gone
    assert sorted(os.listdir(folder)) == sorted(os.listdir(tmp_path / "fresh") + ["NOTES.md", "other"])
    assert_same_items(expected_items, Dataset.import_from(str(folder), "mnist"))
    assert_same_items(expected_items, dataset)  # the dataset still reads as it did
    assert leftovers(tmp_path, ["data", "fresh"]) == []


def test_an_in_place_cli_transform_keeps_other_files(tmp_path):
    folder = tmp_path / "data"
    raw_idx_folder(folder)
    kept = foreign(folder)
    run_datum("transform", "-t", "remap_labels", "--overwrite", f"{folder}:mnist", "--", "-l", "0:seven")
    assert foreign(folder) == kept
    back = Dataset.import_from(str(folder), "mnist")
    names = back.categories()[AnnotationType.label]
    assert len(back) == 60 and {names[item.annotations[0].label].name for item in back} == {"seven"}
    assert leftovers(tmp_path, ["data"]) == []


def test_an_in_place_csv_export_keeps_other_files(tmp_path):
    folder = tmp_path / "data"
    digits(4, 10).export(str(folder), "mnist_csv", save_media=True)
    (folder / "NOTES.md").write_text("mine")
    dataset = Dataset.import_from(str(folder), "mnist_csv")
    dataset.remove("0", "train")
    dataset.save(save_media=True)
    assert (folder / "NOTES.md").read_text() == "mine"
    assert len(Dataset.import_from(str(folder), "mnist_csv")) == 3
