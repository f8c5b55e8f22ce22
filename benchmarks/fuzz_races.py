"""The fuzzer's export races: processes exporting to one folder at once, and an export killed at random.

Oracle: every export that was not killed succeeds; the folder then imports as exactly one complete
export (the old one or one of the new ones); no staging folder, journal or lock is left once the
exports are over (after a kill: once the next export is over); files that aren't the format's, in the
folder and beside it, are untouched. Run as a script, this module is the exporting process:
``python fuzz_races.py export OUT FORMAT VALUE COUNT STARTED GO``.
"""

from __future__ import annotations

import os
import os.path as osp
import random
import shutil
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional

import numpy as np

from fuzz_oracle import Crash, describe, signature

FORMATS = ("mnist", "mnist_csv")
FOREIGN = {"notes.txt": b"a user's notes, beside the export\n"}
FOREIGN_INSIDE = {"my-notes.txt": b"a user's notes, inside the export folder\n"}
TIMEOUT = 180


def race_dataset(value: int, count: int):
    """Dataset *value* of *count* items: each pixel, label and subset a function of (value, index)."""
    from datumaro.components.annotation import AnnotationType, Label, LabelCategories
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image

    items = [DatasetItem(id=str(i), subset="test" if value % 2 and i % 2 else "train",
                         media=Image.from_numpy(data=np.full((28, 28), (value * 37 + i) % 256, np.uint8)),
                         annotations=[Label((value + i) % 10)]) for i in range(count)]
    return Dataset.from_iterable(items, categories={AnnotationType.label: LabelCategories.from_iterable("0123456789")})


def contents(dataset) -> Dict:
    return {(item.subset, item.id): (tuple(a.label for a in item.annotations), np.asarray(item.media.data).tobytes())
            for item in dataset}


def _worker(out: str, fmt: str, value: str, count: str, started: str, go: str) -> None:
    dataset = race_dataset(int(value), int(count))
    open(started, "w").close()
    deadline = time.monotonic() + TIMEOUT
    while not osp.exists(go) and time.monotonic() < deadline:
        time.sleep(0.005)
    dataset.export(out, fmt, save_media=True)


def _spawn(parent: str, out: str, fmt: str, value: int, count: int) -> subprocess.Popen:
    flags = [osp.join(parent, f"{name}-{value}") for name in ("started", "go")]
    return subprocess.Popen([sys.executable, osp.abspath(__file__), "export", out, fmt, str(value), str(count), *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _go(parent: str, values: List[int], processes: List[subprocess.Popen]) -> bool:
    """Wait until every process has built its dataset, then let them all export at once."""
    deadline = time.monotonic() + TIMEOUT
    while not all(osp.exists(osp.join(parent, f"started-{v}")) for v in values):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            return False
        time.sleep(0.01)
    for v in values:
        open(osp.join(parent, f"go-{v}"), "w").close()
    return True


def _prepare(rng: random.Random, workdir: str, fmt: str) -> tuple:
    """A fresh parent with a user's file beside the destination and, maybe, an old export holding another."""
    parent = osp.join(workdir, "race")
    shutil.rmtree(parent, ignore_errors=True)
    os.makedirs(parent)
    out = osp.join(parent, "out")
    for name, data in FOREIGN.items():
        with open(osp.join(parent, name), "wb") as f:
            f.write(data)
    old = None
    if rng.random() < 0.7:
        old_dataset = race_dataset(0, rng.randint(1, 40))
        old_dataset.export(out, fmt, save_media=True)
        old = contents(old_dataset)
        for name, data in FOREIGN_INSIDE.items():
            with open(osp.join(out, name), "wb") as f:
                f.write(data)
    return parent, out, old


def _read(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _state(parent: str, out: str, fmt: str, allowed: List[Optional[Dict]], what: str, inside: bool) -> Optional[Crash]:
    """The folder holds exactly one of *allowed* (None: no folder), and the user's files are intact."""
    from datumaro.components.dataset import Dataset

    for name, data in FOREIGN.items():
        if _read(osp.join(parent, name)) != data:
            return Crash(f"{what}:foreign-file-lost:{fmt}", f"{name} beside the export changed or went")
    if not osp.exists(out) or None in allowed and os.listdir(out) == []:
        # Datumaro's Dataset.export makes the folder before our exporter starts: killed then, it stays empty
        return None if None in allowed else Crash(f"{what}:folder-gone:{fmt}", "the destination disappeared")
    try:
        found = contents(Dataset.import_from(out, fmt))
    except Exception as e:  # noqa: BLE001 - a folder our exports wrote must import
        return Crash(signature(e, f"{what}-reimport:{fmt}"), describe(e))
    if found not in allowed:
        sizes = [None if a is None else len(a) for a in allowed]
        return Crash(f"{what}:not-one-export:{fmt}", f"{len(found)} items found; one of {sizes} expected")
    for name, data in FOREIGN_INSIDE.items():  # written into the old export, when there is one
        path = osp.join(out, name)
        if inside and _read(path) != data:
            return Crash(f"{what}:foreign-file-lost:{fmt}", f"{name} in the export folder changed or went")
    return None


def run_concurrent(rng: random.Random, workdir: str) -> Optional[Crash]:
    """2-4 processes export different datasets to one folder at once: all succeed, one of them is there."""
    fmt = rng.choice(FORMATS)
    parent, out, old = _prepare(rng, workdir, fmt)
    values = list(range(1, rng.randint(2, 4) + 1))
    counts = {v: rng.randint(1, 300) for v in values}
    processes = [_spawn(parent, out, fmt, v, counts[v]) for v in values]
    try:
        started = _go(parent, values, processes)
        errors = [p.communicate(timeout=TIMEOUT)[1] for p in processes]
    except subprocess.TimeoutExpired:
        return Crash(f"concurrent:hang:{fmt}", f"an export of {len(values)} at once ran over {TIMEOUT} s")
    finally:
        for p in processes:
            p.kill()
            p.wait()
    failed = [(p.returncode, e[-3000:]) for p, e in zip(processes, errors) if p.returncode]
    if failed or not started:
        why = failed[0][1] if failed else "never started"
        return Crash(f"concurrent:export-failed:{fmt}", f"{len(failed)} of {len(values)} failed:\n{why}")
    news = [contents(race_dataset(v, counts[v])) for v in values]
    crash = _state(parent, out, fmt, news, "concurrent", old is not None)
    left = [n for n in os.listdir(parent) if n.startswith(".datumaro")]
    if crash is None and left:
        crash = Crash(f"concurrent:left-behind:{fmt}", f"after {len(values)} exports: {left}")
    return crash


def run_killed(rng: random.Random, workdir: str) -> Optional[Crash]:
    """An export SIGKILLed at a random moment: the old or the new export; the next export cleans up."""
    fmt = rng.choice(FORMATS)
    parent, out, old = _prepare(rng, workdir, fmt)
    count, delay = rng.randint(1, 3000), rng.uniform(0, 0.8)
    process = _spawn(parent, out, fmt, 1, count)
    try:
        if not _go(parent, [1], [process]):
            return Crash(f"killed:export-failed:{fmt}", process.communicate(timeout=TIMEOUT)[1][-3000:])
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    crash = _state(parent, out, fmt, [old, contents(race_dataset(1, count))], "killed", old is not None)
    if crash is not None:
        return crash
    third = race_dataset(2, rng.randint(1, 20))
    try:
        third.export(out, fmt, save_media=True)
    except Exception as e:  # noqa: BLE001 - the export after a killed one succeeds
        return Crash(signature(e, f"killed-next-export:{fmt}"), describe(e))
    crash = _state(parent, out, fmt, [contents(third)], "killed-next", old is not None)
    left = [n for n in os.listdir(parent) if n.startswith(".datumaro")]
    if crash is None and left:
        crash = Crash(f"killed:left-behind:{fmt}", f"after the next export: {left}")
    return crash


#: name -> (relative weight, run(rng, workdir)): processes, seconds each; not for CI.
PROCESS_KINDS = {
    "concurrent-export": (0.03, run_concurrent),
    "killed-export": (0.03, run_killed),
}

if __name__ == "__main__" and sys.argv[1:2] == ["export"]:
    _worker(*sys.argv[2:8])
