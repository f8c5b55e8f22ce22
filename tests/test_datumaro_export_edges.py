"""Where Datumaro's ``Dataset.export`` acts before or after our exporter runs: nothing is lost.

Datumaro 1.13's ``Dataset.export`` calls ``os.makedirs(save_dir)`` before it calls the exporter (no plugin
hook runs in between), and asks a ``StreamDataset`` for ``get_patch()`` before it calls
``Exporter.patch`` for an in-place export. We don't patch Datumaro, so these stay Datumaro's own errors;
these tests pin down that they lose nothing and that our exporter is never reached. Given a folder that
does not exist, ``Dataset.export`` makes it and removes it if the export fails: our exporters take that
removal over (datumaro_cleanup.py), so that it never deletes another process's export committed into it.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from datumaro.components.annotation import Label
from datumaro.components.dataset import Dataset, StreamDataset
from datumaro.components.dataset_base import DatasetBase, DatasetItem
from datumaro.components.errors import DatasetExportError, NotAvailableError
from datumaro.components.hl_ops import HLOps
from datumaro.components.media import Image

from datumaro_mnist_plugins import export, mnist_synthetic, transaction

from .conftest import DIGITS, assert_same_items, datum_command, error_text, leftovers
from .test_transaction import digits, exit_status, forked, tree

FORMATS = ["mnist", "mnist_csv", "mnist_synthetic"]


def never_called(*args, **kwargs):
    raise AssertionError("our exporter was reached")


@pytest.mark.parametrize("fmt", FORMATS)
def test_dataset_export_onto_a_file_is_datumaros_makedirs_error_and_the_file_is_untouched(tmp_path, monkeypatch, fmt):
    target = tmp_path / "file"
    target.write_bytes(b"keep me")
    dataset = digits(3, 1)
    exporter = dataset.env.exporters[fmt]
    monkeypatch.setattr(exporter, "convert", classmethod(never_called))
    for dest in (target, target / "below"):
        with pytest.raises((FileExistsError, NotADirectoryError)) as error:
            dataset.export(str(dest), fmt, save_media=True)
        assert str(target) in str(error.value)  # Datumaro's message names the path, at least
    assert target.read_bytes() == b"keep me"
    assert sorted(os.listdir(tmp_path)) == ["file"]


@pytest.mark.parametrize("fmt", ["mnist", "mnist_csv"])
def test_a_first_export_killed_before_our_exporter_starts_leaves_an_empty_folder_the_next_export_uses(tmp_path, fmt):
    dest = tmp_path / "out"

    def killed_at_start():
        exporter = Dataset.from_iterable([]).env.exporters[fmt]
        exporter.convert = classmethod(lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL))
        digits(3, 1).export(str(dest), fmt, save_media=True)

    assert exit_status(forked(killed_at_start)) == -signal.SIGKILL
    assert sorted(os.listdir(tmp_path)) == ["out"] and os.listdir(dest) == []  # Datumaro's makedirs, nothing else
    digits(3, 1).export(str(dest), fmt, save_media=True)
    assert len(Dataset.import_from(str(dest), fmt)) == 3
    assert sorted(os.listdir(tmp_path)) == ["out"]


@pytest.mark.parametrize("fmt", ["mnist", "mnist_csv"])
def test_an_in_place_export_of_a_stream_dataset_fails_in_datumaro_before_anything_is_touched(tmp_path, monkeypatch,
                                                                                            fmt):
    source = tmp_path / "data"
    digits(4, 3).export(str(source), fmt, save_media=True)
    (source / "NOTES.md").write_text("mine")
    before = tree(source)
    stream = StreamDataset.import_from(str(source), fmt)
    monkeypatch.setattr(stream.env.exporters[fmt], "patch", classmethod(never_called))
    with pytest.raises(NotAvailableError, match="not allowed in streaming"):
        stream.export(str(source), fmt, save_media=True)
    assert tree(source) == before
    assert sorted(os.listdir(tmp_path)) == ["data"]
    monkeypatch.undo()
    # what to do instead: a (lazy, non-stream) Dataset exports in place, keeping the user's files
    dataset = Dataset.import_from(str(source), fmt)
    dataset.export(str(source), fmt, save_media=True)
    assert (source / "NOTES.md").read_text() == "mine" and len(Dataset.import_from(str(source), fmt)) == 4


# --- a failed export into a folder Datumaro made for it: removed only while empty ---------------------------


def touch(path):
    open(path, "w").close()


def wait_for(path, seconds=120):
    """Wait for another process to say it reached a step (a flag file); a bound, so that a broken
    mechanism (a deadlock) fails the test instead of hanging it."""
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)


class FailingDigits(DatasetBase):
    """Three digits, then one whose image can't be read: the export fails on it. Says *started* when the
    exporter first reads the items (before it takes the destination's lock), then waits for *wait_items*;
    reading the bad image waits for *wait_image* first."""

    def __init__(self, started, wait_items=None, wait_image=None):
        super().__init__(media_type=Image)
        self._started, self._wait_items, self._wait_image = started, wait_items, wait_image

    def __iter__(self):
        touch(self._started)
        if self._wait_items:
            wait_for(self._wait_items)
        for i in range(3):
            yield DatasetItem(str(i), subset="train", media=Image.from_numpy(data=np.full((28, 28), 80 * i, np.uint8)),
                              annotations=[Label(i)])
        yield DatasetItem("bad", subset="train", media=Image.from_numpy(data=self._unreadable), annotations=[Label(3)])

    def _unreadable(self):
        if self._wait_image:
            wait_for(self._wait_image)
        raise OSError("the disk holding this image is gone")

    def categories(self):
        return DIGITS


def digits_paused_in_commit(count, value, reached, wait):
    """digits(count, value) whose first image, read with the export's lock held, says *reached* and
    waits for *wait*."""
    def first_image():
        touch(reached)
        wait_for(wait)
        return np.full((28, 28), value, np.uint8)

    items = list(digits(count, value))
    items[0] = items[0].wrap(media=Image.from_numpy(data=first_image))
    return Dataset.from_iterable(items, categories=DIGITS)


def failing_export(out, fmt, error_file, how="Dataset.export", **gates):
    """Process A: an export into *out* (not there yet) that fails; its error text goes to a file."""
    def run():
        dataset = Dataset.from_extractors(FailingDigits(**gates))
        try:
            if how == "Dataset.export":
                dataset.export(str(out), fmt, save_media=True)
            else:
                HLOps.export(dataset, str(out), fmt, save_media=True)
        except DatasetExportError as e:
            with open(error_file, "w") as f:
                f.write(error_text(e))
            raise

    return run


@pytest.fixture
def race(tmp_path):
    """Flag files in their own folder; the exports' folder ``data/out`` with nothing else beside it."""
    (tmp_path / "flags").mkdir()
    (tmp_path / "data").mkdir()
    return lambda name: str(tmp_path / "flags" / name), tmp_path / "data" / "out"


def assert_a_failed_and_b_is_whole(a, flag, out):
    assert exit_status(a) == 1, "export A must report its failure"
    with open(flag("a-error")) as f:
        assert "item 'bad' of subset 'train': can't read its image" in f.read()
    assert_same_items(digits(5, 2), Dataset.import_from(str(out), "mnist"))
    assert leftovers(out.parent) == []


@pytest.mark.parametrize("fmt, how", [(fmt, "Dataset.export") for fmt in FORMATS] + [("mnist", "HLOps.export")])
def test_a_failed_export_into_a_new_folder_keeps_an_export_committed_before_it_failed(race, fmt, how):
    flag, out = race
    # A starts first: Datumaro makes "out" (and will remove it if A fails); A reads its items, then waits
    a = forked(failing_export(out, fmt, flag("a-error"), how, started=flag("a-started"), wait_items=flag("b-done")))
    wait_for(flag("a-started"))
    digits(5, 2).export(str(out), "mnist", save_media=True)  # B, this process: commits into A's new folder
    touch(flag("b-done"))  # then A goes on, takes the lock, and fails
    assert_a_failed_and_b_is_whole(a, flag, out)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failed_export_into_a_new_folder_keeps_an_export_that_held_the_lock_when_it_started(race, fmt):
    flag, out = race
    exporter = Dataset.from_iterable([]).env.exporters["mnist"]
    # B starts first, as scripts and generators call an exporter (no folder made before its commit), and
    # pauses with the destination's lock held until A has started
    b = forked(lambda: exporter.convert(digits_paused_in_commit(5, 2, flag("b-locked"), flag("a-started")),
                                        save_dir=str(out), save_media=True))
    wait_for(flag("b-locked"))
    assert not out.exists()
    # A: Datumaro makes "out", A reads its items (B goes on and commits), waits for the lock, then fails
    a = forked(failing_export(out, fmt, flag("a-error"), started=flag("a-started"), wait_image=flag("b-done")))
    assert exit_status(b) == 0
    touch(flag("b-done"))
    assert_a_failed_and_b_is_whole(a, flag, out)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("how", ["Dataset.export", "HLOps.export"])
def test_a_failed_export_into_a_new_folder_leaves_no_folder_and_an_existing_one_stays(tmp_path, fmt, how):
    def fails(out):
        dataset = Dataset.from_extractors(FailingDigits(str(tmp_path / "started")))
        with pytest.raises(DatasetExportError, match="can't read its image"):
            if how == "Dataset.export":
                dataset.export(str(out), fmt, save_media=True)
            else:
                HLOps.export(dataset, str(out), fmt, save_media=True)

    fails(tmp_path / "new" / "out")  # Datumaro makes new/out and removes out, as it means to
    assert sorted(os.listdir(tmp_path)) == ["new", "started"] and os.listdir(tmp_path / "new") == []
    (tmp_path / "mine").mkdir()
    fails(tmp_path / "mine")  # an empty folder that was there: it stays
    assert os.listdir(tmp_path / "mine") == []


def paused_before_the_lock(started, wait):
    """Process A's exporter stops where it has started but not yet taken the destination's lock."""
    def check_destination(save_dir):
        touch(started)
        wait_for(wait)

    export.check_destination = mnist_synthetic.check_destination = check_destination


def in_commit(step, reached, then):
    """Process B stops in its commit after *step*: the destination's lock held and its folder made, before
    any move (``_fsync_files``: the journal not yet written; ``_write_journal``: written)."""
    real = getattr(transaction, step)

    def stop(*args):
        real(*args)
        touch(reached)
        then()

    setattr(transaction, step, stop)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("b_is", ["committing", "killed"])
def test_a_failed_export_never_removes_a_folder_another_export_is_committing_into(race, fmt, b_is):
    flag, out = race

    def a():  # Datumaro makes "out"; A's exporter waits for B to be mid-commit, then fails on an option
        paused_before_the_lock(flag("a-started"), flag("a-go"))
        with pytest.raises(DatasetExportError, match="image extension '.nope'"):
            digits(3, 0).export(str(out), fmt, save_media=True, image_ext=".nope")

    def b():
        if b_is == "committing":
            in_commit("_fsync_files", flag("b-in-commit"), lambda: wait_for(flag("a-done")))
        else:
            in_commit("_write_journal", flag("b-in-commit"), lambda: os.kill(os.getpid(), signal.SIGKILL))
        Dataset.from_iterable([]).env.exporters["mnist"].convert(digits(5, 2), save_dir=str(out), save_media=True)

    a_pid = forked(a)
    wait_for(flag("a-started"))
    b_pid = forked(b)
    wait_for(flag("b-in-commit"))
    if b_is == "killed":
        assert exit_status(b_pid) == -signal.SIGKILL  # its lock let go; its journal and the folder left
    touch(flag("a-go"))
    assert exit_status(a_pid) == 0  # A failed as it should, reporting its error
    touch(flag("a-done"))
    if b_is == "committing":  # A left the folder to B (B held its lock): B's commit moves its files in
        assert exit_status(b_pid) == 0
        assert_same_items(digits(5, 2), Dataset.import_from(str(out), "mnist"))
    else:  # A left the folder to the recovery of B's commit, which needs it
        assert transaction.recover(str(out)) == "back" and os.listdir(out) == []
    assert leftovers(out.parent) == []


# Process A of the CLI race: `datum convert` into a new folder, whose exporter lets process B (another
# `datum convert`) commit into it, then fails on a bad option (checked after check_destination).
CLI_A = """
import subprocess, sys
from datumaro.cli.__main__ import main
from datumaro_mnist_plugins import export, mnist_synthetic
competitor = __import__("json").loads(sys.argv[1])
check_destination = export.check_destination
def check_then_b_commits(save_dir):
    check_destination(save_dir)
    subprocess.run(competitor, check=True)
export.check_destination = mnist_synthetic.check_destination = check_then_b_commits
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("fmt", ["mnist_synthetic"])  # the Python races above run every format; this, the CLI's way
def test_a_failed_datum_convert_into_a_new_folder_keeps_an_export_committed_meanwhile(tmp_path, fmt):
    source, out = tmp_path / "source", tmp_path / "data" / "out"
    digits(5, 2).export(str(source), "mnist", save_media=True)
    b = datum_command() + ["convert", "-if", "mnist", "-i", str(source), "-f", "mnist", "-o", str(out),
                           "--", "--save-media"]
    a = ["convert", "-if", "mnist", "-i", str(source), "-f", fmt, "-o", str(out), "--", "--save-media",
         "--image-ext", ".nope"]
    result = subprocess.run([sys.executable, "-c", CLI_A, json.dumps(b), *a], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode != 0 and "image extension '.nope'" in result.stderr
    assert_same_items(digits(5, 2), Dataset.import_from(str(out), "mnist"))
    assert leftovers(out.parent) == []
