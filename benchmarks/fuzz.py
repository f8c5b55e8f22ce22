"""Fuzz the MNIST-family importers and exporters with mutated real files.

Each run picks a mutation kind (table ``KINDS``; ``--kinds`` narrows it) and runs it under a time bound
(``TIME_BOUND``: a hang is a crash):

- ``bytes``: one seed dataset folder built from real MNIST files (``../shared/data``, or the 100 real
  digits in ``assets/mnist-sample`` when the shared data is absent), mutated — bit flips, header fields
  set to edge values, truncation, extension, spliced bytes, damaged or swapped compression, deleted or
  renamed files, text tokens (BOM, CRLF, ``../../x``, non-UTF-8) in ``labels.txt`` / ``dataset_meta.json`` /
  CSV — then imported with ``Dataset.import_from``, every item's label and pixels touched, and, if that
  worked, exported in the same format and imported again.
- ``file-kind``, ``name-clash``, ``subset-names``, ``recipe`` (``fuzz_kinds.py``): a seed file replaced by
  a directory, FIFO, link to ``/dev/zero`` or ``/dev/null``, dangling link, unreadable (checked by a root
  process that obeys permissions) or empty file; files copied under names of the same subset (``t10k-`` /
  ``test-``, ``mnist_`` / ``fashion-mnist_``, EMNIST/QMNIST prefixes, raw beside ``.gz`` / ``.xz`` with
  different contents); datasets of clashing subset names exported and imported back; mutated YAML/JSON
  recipes (wrong types per key, huge numbers, mixed key types, alias bombs, deep nesting, token splices).
- ``concurrent-export``, ``killed-export`` (``fuzz_races.py``): 2-4 processes exporting different datasets
  to one folder at once, and an export SIGKILLed at a random moment, then imported.

Oracle: every failure must be a ``datumaro.components.errors`` type whose message chain names the
dataset folder (so the user learns which file is wrong); a file that is not a file must be an error or a
warning naming it (unless the import doesn't read it); clashing names are kept apart or refused, never
merged; a subset-name round trip is exact or refused before writing; a recipe that imports renders; after
racing or killed exports the folder imports as exactly one complete export, with no staging left once the
next export is done and no file of the user's lost. A bare ``ValueError``/``IndexError``/
``EOFError``/``MemoryError``/numpy message, or a Datumaro error that names no file, is a crash. With
tracing on (the default here; ``--no-memory`` and CI turn it off) a run whose traced allocation peak
exceeds twice that of its unmutated seed (plus 16 MB) is a crash too: a mutation must not make an
import allocate more than the valid data does.

Usage::

    python benchmarks/fuzz.py --minutes 15            # the long run; prints executions and crashes
    python benchmarks/fuzz.py --runs 2000 --seed 7    # a fixed number of runs
    python benchmarks/fuzz.py --replay 12345          # re-run one case (its seed) and show the traceback
    python benchmarks/fuzz.py --kinds recipe,file-kind --minutes 5   # only these kinds

Run ``i`` of a session started with ``--seed S`` uses ``random.Random(S * 10**9 + i)``, so any crash
replays exactly (with the same seed folders: same data source, same version of this script). Crashing inputs are saved under ``--crashes`` (default ``fuzz-crashes/``), one folder
per distinct crash signature. CI runs a few hundred mutations through Hypothesis instead (the same
``run_one`` driven by ``st.randoms()``, so a failure shrinks to a small mutation):
``tests/test_faults.py::test_fuzzed_real_files_fail_only_with_clear_datumaro_errors``.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import hashlib
import json
import lzma
import os
import os.path as osp
import random
import shutil
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # the fuzzer's other modules, beside it

from fuzz_kinds import IN_PROCESS_KINDS, copy_case, materialize  # noqa: E402
from fuzz_oracle import Context  # noqa: E402
from fuzz_oracle import Crash, Hang, chain as _chain, describe as _describe  # noqa: E402
from fuzz_oracle import names_the_folder as _names_the_folder  # noqa: E402
from fuzz_oracle import OUTCOMES, signature as _signature, time_bound  # noqa: E402
from fuzz_races import PROCESS_KINDS  # noqa: E402

from datumaro_mnist_plugins.registration import FORMAT_NAMES  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DATA = osp.normpath(osp.join(REPO, "..", "shared", "data"))
ASSET_SAMPLE = osp.join(REPO, "assets", "mnist-sample")
#: With memory tracing, a run may allocate this much more than twice its unmutated seed's peak.
MEMORY_SLACK = 16 << 20

_CODECS: Dict[str, tuple] = {
    ".gz": (gzip.decompress, lambda b: gzip.compress(b, mtime=0)),
    ".xz": (lzma.decompress, lzma.compress),
    ".bz2": (bz2.decompress, bz2.compress),
}
_U8 = [0, 1, 2, 3, 7, 8, 9, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x1F, 0x20, 0x7F, 0x80, 0xFE, 0xFF]
_U32 = [0, 1, 2, 3, 9, 10, 27, 28, 29, 100, 255, 256, 784, 5000, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
        2**24, 2**31 - 1, 2**31, 2**32 - 1]
_TOKENS = [b"\xef\xbb\xbf", b"\r\n", b"\n", b"\n\n", b"\xff", b"\xc3", b"\x00", b'"', b"{", b"}", b"[", b"]",
           b",", b",,", b":", b"-1", b"256", b"1e999", b"NaN", b"3.5", b" ", b"../../x", b"/abs", b"label",
           b'"labels"', b'"label_map"', b"null", b"true", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]


@dataclass
class Seed:
    name: str
    format: str
    files: Dict[str, bytes]
    #: how often the seed is picked, relative to others (big real files are slow to import)
    weight: float = 1.0
    #: export and re-import what imported (skipped for big seeds: their time is better spent mutating)
    round_trip: bool = True




# --- seeds: real digits -------------------------------------------------------------------------------


def real_source() -> str:
    mnist_dev = osp.join(SHARED_DATA, "mnist-dev")
    if osp.isfile(osp.join(mnist_dev, "t10k-images-idx3-ubyte.gz")):
        return mnist_dev
    return ASSET_SAMPLE


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _export_files(dataset, fmt: str, **options) -> Dict[str, bytes]:
    """The files our exporter writes for *dataset* (relative path -> bytes)."""
    with tempfile.TemporaryDirectory() as out:
        dataset.export(out, fmt, **options)
        files = {}
        for root, _, names in os.walk(out):
            for name in names:
                path = osp.join(root, name)
                files[osp.relpath(path, out).replace(os.sep, "/")] = _read(path)
        return files


def _digits_dataset(images: np.ndarray, labels: np.ndarray, *, odd: bool):
    """Real digits as a Datumaro dataset; *odd* adds what needs a sidecar: ids, mixed sizes, no image."""
    from datumaro.components.annotation import AnnotationType, Label, LabelCategories
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image

    items = []
    for i, (image, label) in enumerate(zip(images, labels)):
        item_id, media = str(i), Image.from_numpy(data=np.array(image))
        if odd:
            item_id = ["a/b", "ünïcödé-" + "x" * 30, f"item {i}", str(i)][i % 4]
            item_id = f"{item_id}-{i}"
            crop = image[i % 5 :, : 28 - i % 3]
            media = None if i % 7 == 3 else Image.from_numpy(data=np.array(crop))
        annotations = [] if odd and i % 6 == 5 else [Label(int(label))]
        items.append(DatasetItem(id=item_id, subset="train" if i % 3 else "test", media=media, annotations=annotations))
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    return Dataset.from_iterable(items, categories={AnnotationType.label: LabelCategories.from_iterable(names)})


def build_seeds(source: Optional[str] = None, *, quick: bool = False) -> List[Seed]:
    """The seed folders, every pixel and label a real one.

    *quick* (CI) leaves out the big verbatim files: the 5,000 shared digits become the 100 shipped in
    ``assets/`` (also verbatim real MNIST), and the 60,000 real training labels are left out.
    """
    from datumaro_mnist_plugins.codecs import idx

    source = source or real_source()
    verbatim = ASSET_SAMPLE if quick else source
    images_path = osp.join(source, "t10k-images-idx3-ubyte.gz")
    labels_path = osp.join(source, "t10k-labels-idx1-ubyte.gz")
    images = np.asarray(idx.read_idx(images_path))[:24]
    labels = np.asarray(idx.read_idx(labels_path))[:24]

    def idx_file(name: str, array: np.ndarray) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            idx.write_idx(osp.join(tmp, name), array)
            return _read(osp.join(tmp, name))

    seeds = [
        # the real compressed files, verbatim
        Seed("real-verbatim", "mnist", {name: _read(osp.join(verbatim, name))
                                        for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")},
             weight=0.3 if verbatim == ASSET_SAMPLE else 0.05, round_trip=verbatim == ASSET_SAMPLE),
        Seed("gz+labels.txt", "mnist", {
            "train-images-idx3-ubyte.gz": idx_file("a.gz", images[:16]),
            "train-labels-idx1-ubyte.gz": idx_file("b.gz", labels[:16]),
            "labels.txt": "\ufeffzero\r\none\r\ntwo\r\nthree\r\nfour\r\n\r\nfive\r\nsix\r\nseven\r\neight\r\nnine\r\n".encode(),
        }),
        Seed("raw+meta", "mnist", {
            "t10k-images-idx3-ubyte": idx_file("a", images[:8]),
            "t10k-labels-idx1-ubyte": idx_file("b", labels[:8]),
            "dataset_meta.json": json.dumps({"labels": [str(i) for i in range(10)]}).encode(),
        }),
        Seed("xz+bz2", "mnist", {
            "val-images-idx3-ubyte.xz": idx_file("a.xz", images[:6]),
            "val-labels-idx1-ubyte.bz2": idx_file("b.bz2", labels[:6]),
        }),
        Seed("sidecar", "mnist", _export_files(_digits_dataset(images[:14], labels[:14], odd=True), "mnist",
                                               save_media=True, save_dataset_meta=True)),
    ]
    train_labels = osp.join(SHARED_DATA, "mnist-dev", "train-labels-idx1-ubyte.gz")
    if osp.isfile(train_labels) and not quick:  # a real labels-only subset, verbatim
        seeds.append(Seed("real-labels-only", "mnist", {"train-labels-idx1-ubyte.gz": _read(train_labels)},
                          weight=0.01, round_trip=False))  # 60,000 items: seconds per import
    qmnist = osp.join(SHARED_DATA, "qmnist", "qmnist-test-labels-idx2-int.gz")
    if osp.isfile(qmnist):  # QMNIST's real extended labels: 8 int32 columns per digit
        table = np.asarray(idx.read_idx(qmnist))[:8]
        seeds.append(Seed("qmnist", "mnist", {
            "qmnist-test-images-idx3-ubyte.gz": idx_file("a.gz", images[:8]),
            "qmnist-test-labels-idx2-int.gz": idx_file("b.gz", table),
        }))
    # the family's class-name files: EMNIST's mapping (images stored transposed), KMNIST's class map
    seeds.append(Seed("emnist", "mnist", {
        "emnist-digits-test-images-idx3-ubyte.gz": idx_file("a.gz", images[:6]),
        "emnist-digits-test-labels-idx1-ubyte.gz": idx_file("b.gz", labels[:6]),
        "emnist-digits-mapping.txt": "".join(f"{i} {48 + i}\n" for i in range(10)).encode(),
    }))
    seeds.append(Seed("kmnist", "mnist", {
        "train-images-idx3-ubyte.gz": idx_file("a.gz", images[:6]),
        "train-labels-idx1-ubyte.gz": idx_file("b.gz", labels[:6]),
        "kmnist_classmap.csv": ("index,codepoint,char\n" + "".join(
            f"{i},U+{ord(c):04X},{c}\n" for i, c in enumerate("おきすつなはまやれを"))).encode(),
    }))
    if "mnist_csv" in FORMAT_NAMES:  # ours, not Datumaro's built-in
        for odd in (False, True):
            dataset = _digits_dataset(images[:10], labels[:10], odd=odd)
            seeds.append(Seed(f"csv{'-odd' if odd else ''}", "mnist_csv",
                              _export_files(dataset, "mnist_csv", save_media=True, save_dataset_meta=odd)))
    return seeds


# --- mutations -------------------------------------------------------------------------------------------


def _position(rng: random.Random, data: bytes, header_bias: bool) -> int:
    if header_bias and rng.random() < 0.5:
        return rng.randrange(min(len(data), 40) or 1)
    return rng.randrange(len(data) or 1)


def _mutate_bytes(rng: random.Random, data: bytes, splice_from: List[bytes], header_bias: bool) -> bytes:
    data = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 6))):
        op = rng.randrange(11)
        pos = _position(rng, data, header_bias)
        if op == 0 and data:  # flip a bit
            data[pos % len(data)] ^= 1 << rng.randrange(8)
        elif op == 1 and data:  # an edge-value byte (type codes, dimension counts)
            data[pos % len(data)] = rng.choice(_U8)
        elif op == 2:  # an edge-value big-endian uint32 (dimensions)
            data[pos : pos + 4] = rng.choice(_U32).to_bytes(4, "big")
        elif op == 3:  # truncate
            del data[rng.randrange(len(data) + 1) :]
        elif op == 4:  # extend
            data += bytes(rng.randrange(256) for _ in range(rng.choice((1, 4, 16, 100))))
        elif op == 5:  # delete a range
            del data[pos : pos + rng.choice((1, 4, 16, 1000))]
        elif op == 6:  # duplicate a range
            size = rng.choice((1, 4, 16, 784))
            data[pos:pos] = data[pos : pos + size]
        elif op == 7:  # insert random bytes
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 4, 8))))
        elif op == 8 and splice_from:  # splice a piece of another file
            other = rng.choice(splice_from)
            start = rng.randrange(len(other) or 1)
            data[pos : pos + rng.randrange(64)] = other[start : start + rng.randrange(1, 64)]
        elif op == 9:  # a text token (BOM, CRLF, '../../x', bad UTF-8, JSON syntax, numbers)
            data[pos:pos] = rng.choice(_TOKENS)
        elif op == 10 and data:  # overwrite a run with one value (zeroed or saturated pixels)
            value, size = rng.choice((0, 0xFF, rng.randrange(256))), rng.choice((1, 8, 64))
            data[pos : pos + size] = bytes([value]) * len(data[pos : pos + size])
    return bytes(data)


def _compression(name: str) -> str:
    suffix = osp.splitext(name)[1]
    return suffix if suffix in _CODECS else ""


def mutate(rng: random.Random, files: Dict[str, bytes]) -> Dict[str, bytes]:
    """A mutated copy of a dataset folder's files."""
    files = dict(files)
    names = sorted(files)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not names:
            break
        name = rng.choice(names)
        data = files[name]
        action = rng.random()
        compression = _compression(name)
        if action < 0.06:  # the file is gone
            del files[name]
        elif action < 0.10:  # renamed to another compression (content unchanged: mislabeled)
            new = name[: len(name) - len(compression)] + rng.choice(["", ".gz", ".xz", ".bz2"])
            files[new] = files.pop(name)
        elif action < 0.13 and compression:  # recompressed another way (valid, for coverage)
            plain = _safe_decompress(compression, data)
            if plain is not None:
                new_compression = rng.choice([c for c in _CODECS if c != compression])
                files.pop(name)
                files[name[: -len(compression)] + new_compression] = _CODECS[new_compression][1](plain)
        elif action < 0.16:  # another file's content under this name
            files[name] = files[rng.choice(names)]
        elif action < 0.50 and compression:  # damage the compressed stream itself
            files[name] = _mutate_bytes(rng, data, [], header_bias=False)
        else:  # damage the content, keep the container valid
            plain = _safe_decompress(compression, data) if compression else data
            if plain is None:
                plain = data
            others = [v for k, v in files.items() if k != name and not _compression(k)]
            changed = _mutate_bytes(rng, plain, others, header_bias=True)
            files[name] = _CODECS[compression][1](changed) if compression else changed
        names = sorted(files)
    return files


def _safe_decompress(compression: str, data: bytes) -> Optional[bytes]:
    try:
        return _CODECS[compression][0](data)
    except Exception:
        return None


# --- the oracle ------------------------------------------------------------------------------------------


def _touch(dataset) -> int:
    count = 0
    for item in dataset:
        for ann in item.annotations:
            getattr(ann, "label", None)
        if item.media is not None and getattr(item.media, "has_data", False):
            data = item.media.data
            if data is not None:
                np.asarray(data).sum()
        count += 1
    return count


def check_folder(folder: str, fmt: str, out: str, round_trip: bool = True) -> Optional[Crash]:
    """Import *folder*, touch everything, export and re-import; a Crash if anything fails unclearly."""
    from datumaro.components.dataset import Dataset
    from datumaro.components.errors import DatumaroError

    try:
        dataset = Dataset.import_from(folder, fmt)
        count = _touch(dataset)
    except DatumaroError as e:
        if _names_the_folder(e, folder):
            OUTCOMES[f"refused on import ({type(e).__name__})"] += 1
            return None
        return Crash(_signature(e, "import-unclear"), _describe(e))
    except Exception as e:  # noqa: BLE001 - the point of a fuzzer
        return Crash(_signature(e, "import"), _describe(e))
    OUTCOMES["imported"] += 1
    if not round_trip:
        return None

    try:
        dataset.export(out, fmt, save_media=True)
    except DatumaroError:
        OUTCOMES["refused on export"] += 1
        return None  # e.g. float pixels outside 0..255 that IDX allowed: refused, with the item named
    except Exception as e:  # noqa: BLE001
        return Crash(_signature(e, "export"), _describe(e))
    try:
        again = _touch(Dataset.import_from(out, fmt))
    except Exception as e:  # noqa: BLE001 - our own export must always read back
        return Crash(_signature(e, "reimport"), _describe(e))
    if again != count:
        return Crash("reimport:count", f"{count} items exported, {again} read back")
    return None


def write_folder(folder: str, files: Dict[str, bytes]) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for name, data in files.items():
        path = osp.join(folder, name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        materialize(path, data)


def _check_traced(folder: str, seed: Seed, out: str, traced: bool) -> Tuple[Optional[Crash], int]:
    """check_folder, and the traced allocation peak if *traced*."""
    if not traced:
        return check_folder(folder, seed.format, out, seed.round_trip), 0
    tracemalloc.start()
    try:
        crash = check_folder(folder, seed.format, out, seed.round_trip)
        return crash, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def memory_limits(seeds: List[Seed], workdir: str) -> Dict[str, int]:
    """Per seed: twice the allocation peak of checking it unmutated, plus MEMORY_SLACK."""
    limits = {}
    for seed in seeds:
        folder, out = osp.join(workdir, "case"), osp.join(workdir, "out")
        write_folder(folder, seed.files)
        shutil.rmtree(out, ignore_errors=True)
        crash, peak = _check_traced(folder, seed, out, traced=True)
        if crash is not None:
            raise RuntimeError(f"the unmutated seed {seed.name} fails:\n{crash.description}")
        limits[seed.name] = 2 * peak + MEMORY_SLACK
    return limits


def pick(rng: random.Random, seeds: List[Seed]) -> Seed:
    point = rng.random() * sum(s.weight for s in seeds)
    for seed in seeds:
        point -= seed.weight
        if point < 0:
            return seed
    return seeds[-1]


def run_bytes(rng: random.Random, seeds: List[Seed], workdir: str, limits: Optional[Dict[str, int]]) -> Optional[Crash]:
    """One byte-level mutation of one seed, checked (allocation peaks too, given each seed's limit)."""
    seed = pick(rng, seeds)
    files = mutate(rng, seed.files)
    folder, out = osp.join(workdir, "case"), osp.join(workdir, "out")
    write_folder(folder, files)
    shutil.rmtree(out, ignore_errors=True)
    limit = limits.get(seed.name) if limits else None
    crash, peak = _check_traced(folder, seed, out, traced=limit is not None)
    if crash is None and limit is not None and peak > limit:
        crash = Crash(f"memory:{seed.name}", f"traced peak {peak} bytes > {limit}")
    if crash is not None:
        crash.description = f"seed folder: {seed.name} ({seed.format})\n{crash.description}"
    return crash


#: Every mutation kind: name -> (relative weight, run). Mutated bytes are most runs; the rest are rarer
#: and slower (the process kinds take seconds each).
KINDS = {
    "bytes": (1.0, lambda rng, ctx: run_bytes(rng, ctx.seeds, ctx.workdir, ctx.limits)),
    **IN_PROCESS_KINDS,
    **{name: (weight, lambda rng, ctx, run=run: run(rng, ctx.workdir))
       for name, (weight, run) in PROCESS_KINDS.items()},
}
#: The kinds fast enough for CI (Hypothesis): all but the processes.
FAST_KINDS = ("bytes", *IN_PROCESS_KINDS)
#: A run still going after this long is a hang (a FIFO read, an endless loop): a crash.
TIME_BOUND = 120
#: Runs per kind, for the summary.
KIND_RUNS: Counter = Counter()


def run_one(
    rng: random.Random, seeds: List[Seed], workdir: str, *, memory_limits: Optional[Dict[str, int]] = None,
    kinds=None,
) -> Optional[Crash]:
    """One mutation of a kind picked from *kinds* (default: all), checked, under a time bound. *workdir* is reused."""
    names = list(kinds or KINDS)
    point = rng.random() * sum(KINDS[k][0] for k in names)
    kind = names[-1]
    for name in names:
        point -= KINDS[name][0]
        if point < 0:
            kind = name
            break
    KIND_RUNS[kind] += 1
    ctx = Context(seeds, workdir, write_folder, check_folder, traced=memory_limits is not None, limits=memory_limits)
    try:
        with time_bound(TIME_BOUND):
            crash = KINDS[kind][1](rng, ctx)
    except Hang as e:
        crash = Crash(f"{kind}:hang", _describe(e))
    except Exception as e:  # noqa: BLE001 - a fault of the fuzzer itself: recorded, and the run goes on
        crash = Crash(_signature(e, f"{kind}:fuzzer-error"), _describe(e))
    if crash is not None:
        if not crash.signature.startswith(kind):
            crash.signature = f"{kind}/{crash.signature}"
        crash.description = f"kind: {kind}\n{crash.description}"
    return crash


# --- the long run ----------------------------------------------------------------------------------------


def _quiet() -> None:
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)


def _save_crash(crash_dir: str, crash: Crash, case_folder: str, replay: str) -> str:
    key = hashlib.sha1(crash.signature.encode()).hexdigest()[:12]
    target = osp.join(crash_dir, key)
    if not osp.isdir(target):
        if osp.isdir(case_folder):  # the race kinds work elsewhere: their replay is the record
            copy_case(case_folder, osp.join(target, "input"))
        os.makedirs(target, exist_ok=True)
        with open(osp.join(target, "crash.txt"), "w", encoding="utf-8") as f:
            f.write(f"signature: {crash.signature}\nreplay: {replay}\n\n")
            f.write(crash.description)
    return target


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=None, help="run for this long")
    parser.add_argument("--runs", type=int, default=None, help="run this many mutations")
    parser.add_argument("--seed", type=int, default=0, help="session seed (run i uses seed*10**9+i)")
    parser.add_argument("--replay", type=int, default=None, help="re-run the case with this run seed")
    parser.add_argument("--crashes", default="fuzz-crashes", help="where crashing inputs are saved")
    parser.add_argument("--no-memory", action="store_true", help="don't trace allocation peaks (faster)")
    parser.add_argument("--kinds", default=None,
                        help=f"comma-separated mutation kinds (default: all of {', '.join(KINDS)})")
    parser.add_argument("--source", default=None, help="folder with the real t10k files (default: shared data)")
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",") if args.kinds else None
    unknown = sorted(set(kinds or ()) - set(KINDS))
    if unknown:
        parser.error(f"unknown kinds {unknown}; known: {', '.join(KINDS)}")
    seeds = build_seeds(args.source)

    with tempfile.TemporaryDirectory(prefix="mnist-fuzz-") as workdir:
        limits = None if args.no_memory else memory_limits(seeds, workdir)
        if args.replay is not None:
            crash = run_one(random.Random(args.replay), seeds, workdir, memory_limits=limits, kinds=kinds)
            print(crash.description if crash else "no crash")
            return 1 if crash else 0

        if args.minutes is None and args.runs is None:
            args.runs = 1000
        deadline = time.monotonic() + args.minutes * 60 if args.minutes else None
        started, runs, slowest = time.monotonic(), 0, 0.0
        crashes: Dict[str, int] = {}
        print(f"seeds: {', '.join(s.name for s in seeds)} (from {args.source or real_source()})", flush=True)
        while (args.runs is None or runs < args.runs) and (deadline is None or time.monotonic() < deadline):
            run_seed = args.seed * 10**9 + runs
            t0 = time.monotonic()
            crash = run_one(random.Random(run_seed), seeds, workdir, memory_limits=limits, kinds=kinds)
            slowest = max(slowest, time.monotonic() - t0)
            runs += 1
            if crash is not None:
                if crash.signature not in crashes:
                    replay = f"python benchmarks/fuzz.py --replay {run_seed}"
                    replay += f" --kinds {args.kinds}" if args.kinds else ""
                    where = _save_crash(args.crashes, crash, osp.join(workdir, "case"), replay)
                    print(f"CRASH {crash.signature} (run seed {run_seed}) -> {where}", flush=True)
                crashes[crash.signature] = crashes.get(crash.signature, 0) + 1
            if runs % 5000 == 0:
                print(f"{runs} runs, {time.monotonic() - started:.0f} s, {len(crashes)} distinct crashes", flush=True)
        elapsed = time.monotonic() - started
        print(f"done: {runs} executions in {elapsed:.0f} s ({runs / elapsed:.0f}/s), slowest run {slowest:.2f} s, "
              f"{sum(crashes.values())} crashing runs, {len(crashes)} distinct crashes")
        for outcome, count in OUTCOMES.most_common():
            print(f"  {count:6d}  {outcome}")
        for kind, count in sorted(KIND_RUNS.items()):
            found = sum(n for sig, n in crashes.items() if sig.startswith(kind))
            print(f"  kind {kind}: {count} executions, {found} crashing")
        for signature, count in sorted(crashes.items()):
            print(f"  {count:6d}  {signature}")
        return 1 if crashes else 0


if __name__ == "__main__":
    _quiet()
    sys.exit(main())
