"""An import racing commits opens one export's files: all the old one's or all the new one's, never a mix.

First the worst moment, step by step: a reader looks for a journal (none), a commit begins and moves
its first file, and only then does the reader open the files. Then a writer process commits two
distinguishable exports in turn (each move slowed) while readers import the folder over and over. Every
import must be the whole of one export (item count, labels and pixels), without an error; without the
readers' lock, the first test sees labels of one export beside images of the other.
"""

import json
import os
import os.path as osp
import time
from pathlib import Path

import numpy as np
import pytest

from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset import Dataset

from datumaro_mnist_plugins import transaction

from .test_transaction import digits, exit_status, forked

FORMATS = ["mnist", "mnist_csv"]
#: The two exports: (items, first pixel value, class names); labels are value % 10. Every file differs.
VERSIONS = {"A": (3, 1, "0123456789"), "B": (5, 2, "abcdefghij")}


def export_files(folder, fmt, count, value, names):
    dataset = digits(count, value)
    dataset.transform("remap_labels", mapping=dict(zip("0123456789", names)), default="keep")
    dataset.export(str(folder), fmt, save_media=True)
    return {name: open(osp.join(folder, name), "rb").read() for name in os.listdir(folder)}


def which_export(folder, fmt):
    """"A" or "B" when the import is exactly that export (ids, label names, pixels); else what was seen."""
    dataset = Dataset.import_from(folder, fmt)
    names = dataset.categories()[AnnotationType.label]
    seen = sorted((item.id, [names[a.label].name for a in item.annotations], int(item.media.data.min()))
                  for item in dataset)
    for version, (count, value, class_names) in VERSIONS.items():
        if seen == sorted((str(i), [class_names[value % 10]], value + i) for i in range(count)):
            return version
    return f"mixed: {seen}"


def after_each_move(action):
    """In this (child) process, the commit calls *action(source, target)* after each os.replace."""
    real_replace = os.replace

    class Moves:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def replace(*args, **kwargs):
            real_replace(*args, **kwargs)
            action(*args)

    transaction.os = Moves()


def commit_in_turn(dest, versions, commits):
    owned = set(versions["A"]) | set(versions["B"])
    for number in range(commits):
        files = versions["AB"[number % 2]]
        with transaction.staged_export(dest, owned.__contains__) as staging:
            for name, data in files.items():
                with open(osp.join(staging, name), "wb") as f:
                    f.write(data)


def wait_for(path, seconds=20.0):
    deadline = time.monotonic() + seconds
    while not osp.exists(path):
        assert time.monotonic() < deadline, f"{path} never came"
        time.sleep(0.002)


def touch(path):
    open(path, "w").close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_reader_that_looked_just_before_a_commit_began_opens_the_new_export_whole(tmp_path, fmt):
    from datumaro_mnist_plugins import files

    versions = {name: export_files(tmp_path / name, fmt, *VERSIONS[name]) for name in VERSIONS}
    dest, checked, moving = tmp_path / "out", str(tmp_path / "checked"), str(tmp_path / "moving")
    export_files(dest, fmt, *VERSIONS["A"])
    real_recover = files.recover

    def read():
        def look_then_wait(path):  # no journal yet: the commit starts now, and has moved a file when we open
            outcome = real_recover(path)
            touch(checked)
            wait_for(moving)
            return outcome

        files.recover = look_then_wait
        with open(tmp_path / "seen.txt", "w") as f:
            f.write(which_export(str(dest), fmt))

    def first_move_then_pause(source, target):
        if osp.dirname(target) == str(dest) and not osp.exists(moving):  # a file moved in (not the journal)
            touch(moving)
            time.sleep(0.3)  # the reader opens its files now, halfway through the moves

    def write():
        wait_for(checked)
        after_each_move(first_move_then_pause)
        commit_in_turn(str(dest), {"A": versions["B"], "B": versions["A"]}, 1)

    reader, writer = forked(read), forked(write)
    assert (exit_status(writer), exit_status(reader)) == (0, 0)
    assert (tmp_path / "seen.txt").read_text() == "B"


def read_until(folder, fmt, done_flag, report, progress):
    """Import *folder* again and again until *done_flag* exists, counting what each import saw; the count
    so far goes to *progress* after each import, so the writer commits for as long as the readers need."""
    from datumaro_mnist_plugins import files

    real_recover = files.recover

    def late_recover(path):  # the reader finds no journal, and a commit begins before it opens the files
        outcome = real_recover(path)
        time.sleep(0.015)
        return outcome

    files.recover = late_recover
    outcomes = {}
    while not osp.exists(done_flag):
        try:
            outcome = which_export(folder, fmt)
        except Exception as e:  # noqa: BLE001 - a mix shows as an error too (counts that disagree)
            outcome = f"error: {type(e).__name__}: {e}"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        with open(progress, "w") as f:
            f.write(str(sum(outcomes.values())))
    with open(report, "w") as f:
        json.dump(outcomes, f)


@pytest.mark.parametrize("fmt", FORMATS)
def test_imports_racing_commits_see_the_old_or_the_new_export_whole(tmp_path, fmt):
    versions = {name: export_files(tmp_path / name, fmt, *VERSIONS[name]) for name in VERSIONS}
    dest, done = tmp_path / "out", str(tmp_path / "done")
    export_files(dest, fmt, *VERSIONS["A"])
    progress = [str(tmp_path / f"progress{n}") for n in range(2)]
    readers = [forked(lambda n=n: read_until(str(dest), fmt, done, str(tmp_path / f"r{n}.json"), progress[n]))
               for n in range(2)]

    def imports_so_far():
        return [int(Path(path).read_text() or 0) if osp.exists(path) else 0 for path in progress]

    def write():  # 24 commits at least, and on until each reader has imported 5 times (a slow machine)
        for path in progress:
            wait_for(path, 60.0)
        after_each_move(lambda *_: time.sleep(0.01))
        deadline, rounds = time.monotonic() + 120.0, 0
        while rounds < 12 or (min(imports_so_far()) < 5 and time.monotonic() < deadline):
            commit_in_turn(str(dest), versions, 2)  # A then B: B is always the last
            rounds += 1

    writer = forked(write)
    try:
        assert exit_status(writer) == 0
    finally:
        open(done, "w").close()
        statuses = [exit_status(pid) for pid in readers]
    assert statuses == [0, 0]
    outcomes = {}
    for n in range(2):
        for outcome, times in json.load(open(tmp_path / f"r{n}.json")).items():
            outcomes[outcome] = outcomes.get(outcome, 0) + times
    assert set(outcomes) <= {"A", "B"}, outcomes
    assert sum(outcomes.values()) >= 10, outcomes  # the readers did race the commits
    assert which_export(str(dest), fmt) == "B"  # A and B in turn: B is the last
    left = ["A", "B", "out", "done", "r0.json", "r1.json", *map(osp.basename, progress)]
    assert sorted(os.listdir(tmp_path)) == sorted(left)  # no lock left


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_folder_whose_parent_is_read_only_imports_without_the_readers_lock(tmp_path, monkeypatch, fmt):
    from datumaro_mnist_plugins import files

    export_files(tmp_path / "out", fmt, *VERSIONS["B"])

    def refused(path, shared=False):
        raise PermissionError(13, "read-only file system", path)

    monkeypatch.setattr(files, "flocked", refused)  # no lock file can be made beside the folder
    assert which_export(str(tmp_path / "out"), fmt) == "B"
    assert sorted(os.listdir(tmp_path)) == ["out"]
