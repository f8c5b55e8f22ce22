"""The fuzzer's mutation kinds beyond mutated bytes: file kinds, name clashes, subset names (recipes:
``fuzz_recipes.py``).

Each kind is one function ``run(rng, ctx) -> Optional[Crash]`` in :data:`IN_PROCESS_KINDS`; ``fuzz.py``
picks one per run (by weight, from the run's ``random.Random``, so ``--replay`` works) and runs it under
a time bound: a hang is a crash. Exports that race or are killed need processes: ``fuzz_races.py``.
"""

from __future__ import annotations

import os
import os.path as osp
import pickle
import random
import select
import shutil
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from fuzz_oracle import OUTCOMES, Context, Crash, Hang, describe, signature, unclear
from fuzz_recipes import run_recipe


# --- file kinds ----------------------------------------------------------------------------------------


class Unreadable(bytes):
    """File content written, then ``chmod 000``."""


#: What may stand where a file is expected, and how to make it at a path.
NOT_FILES: Dict[str, Callable[[str], None]] = {
    "<directory>": os.makedirs,
    "<fifo>": os.mkfifo,
    "<symlink to /dev/null>": lambda path: os.symlink(os.devnull, path),
    "<symlink to /dev/zero>": lambda path: os.symlink("/dev/zero", path),
    "<dangling symlink>": lambda path: os.symlink(path + ".gone", path),
}


def materialize(path: str, data) -> None:
    """Write one entry of a case folder: bytes, a NOT_FILES marker, or Unreadable bytes."""
    if isinstance(data, str):
        NOT_FILES[data](path)
        return
    with open(path, "wb") as f:
        f.write(data)
    if isinstance(data, Unreadable):
        os.chmod(path, 0)


def copy_case(source: str, target: str) -> None:
    """Copy a case folder to keep it: links stay links, a FIFO is made anew (reading it would wait)."""

    def copy(src: str, dst: str) -> None:
        if osp.exists(src) and not osp.isfile(src):  # a FIFO (links were kept as links)
            os.mkfifo(dst)
        else:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, symlinks=True, copy_function=copy)


class _Records:
    """Log records and warnings seen while a block runs (the fuzzer silences logging otherwise)."""

    def __enter__(self) -> List[str]:
        import logging
        import warnings

        self.texts: List[str] = []
        self._disabled = logging.root.manager.disable
        logging.disable(logging.NOTSET)
        self._handler = logging.Handler(logging.WARNING)
        self._handler.emit = lambda record: self.texts.append(record.getMessage())
        logging.root.addHandler(self._handler)
        self._warnings = warnings.catch_warnings(record=True)
        self._caught = self._warnings.__enter__()
        warnings.simplefilter("always")
        return self.texts

    def __exit__(self, *exc) -> None:
        import logging

        self.texts.extend(str(w.message) for w in self._caught)
        self._warnings.__exit__(*exc)
        logging.root.removeHandler(self._handler)
        logging.disable(self._disabled)


def _touch_all(dataset) -> int:
    count = 0
    for item in dataset:
        if item.media is not None and getattr(item.media, "has_data", False) and item.media.data is not None:
            np.asarray(item.media.data).sum()
        count += 1
    return count


def _pixels(item) -> Optional[bytes]:
    has_data = item.media is not None and item.media.has_data
    return np.asarray(item.media.data).tobytes() if has_data else None


def _fingerprint(folder: str, fmt: str) -> Optional[tuple]:
    """What a user gets from importing *folder*: items, labels, pixels, class names (None: an error)."""
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset

    try:
        dataset = Dataset.import_from(folder, fmt)
        names = [c.name for c in dataset.categories()[AnnotationType.label]]
        items = sorted((item.subset, item.id, tuple(a.label for a in item.annotations), _pixels(item))
                       for item in dataset)
        return names, items
    except Hang:
        raise
    except Exception:  # noqa: BLE001
        return None


def _import_reporting(ctx: Context, seed, name: str, kind: str) -> Optional[Crash]:
    """A file replaced by *kind*: the import fails naming the folder, or a warning names it, or the file is
    one this folder's import doesn't read (the import without it gives the same dataset)."""
    from datumaro.components.dataset import Dataset

    folder = osp.join(ctx.workdir, "case")
    path = osp.join(folder, name)
    try:
        with _Records() as texts:
            _touch_all(Dataset.import_from(folder, seed.format))
    except Hang:
        raise
    except Exception as e:  # noqa: BLE001 - the point of a fuzzer
        return unclear(e, folder, "file-kind")
    without, original = osp.join(ctx.workdir, "without"), osp.join(ctx.workdir, "original")
    ctx.write_folder(without, {n: v for n, v in seed.files.items() if n != name})
    ctx.write_folder(original, seed.files)
    if _fingerprint(without, seed.format) == _fingerprint(original, seed.format):
        OUTCOMES["file-kind: imported (a file this folder's import doesn't read)"] += 1
        return None
    if not any(path in text or osp.basename(path) in text for text in texts):
        return Crash(f"file-kind:silently-skipped:{kind}", f"{path} was {kind}; import succeeded, no word of it")
    OUTCOMES["file-kind: imported, with a warning naming it"] += 1
    return None


def _drop_dac_override() -> None:
    """Make this (root) process obey file permissions: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH.

    Root stays root (the interpreter's own files stay readable), but a chmod-000 file is refused, as to a user.
    """
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    data[0].effective &= ~((1 << 1) | (1 << 2))
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _as_nobody(ctx: Context, folder: str, fmt: str, seconds: float = 60) -> Optional[Crash]:
    """check_folder in a child that obeys file permissions (root reads a chmod-000 file as any other)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        try:
            _drop_dac_override()
            result = ctx.check_folder(folder, fmt, osp.join(folder, "out"), False)
        except BaseException as e:  # noqa: BLE001
            result = Crash(signature(e, "file-kind"), describe(e))
        with os.fdopen(write_end, "wb") as f:
            f.write(pickle.dumps(result))
        os._exit(0)
    os.close(write_end)
    chunks, deadline = [], time.monotonic() + seconds
    with os.fdopen(read_end, "rb") as f:
        while time.monotonic() < deadline:
            if select.select([f], [], [], deadline - time.monotonic())[0]:
                chunk = os.read(f.fileno(), 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        else:
            os.kill(pid, 9)
    os.waitpid(pid, 0)
    if time.monotonic() >= deadline:
        return Crash("file-kind:hang:unreadable", f"no answer after {seconds} s")
    return pickle.loads(b"".join(chunks))


def run_file_kind(rng: random.Random, ctx: Context) -> Optional[Crash]:
    """One file of a seed replaced by a directory, FIFO, device link, dangling link, unreadable or empty file."""
    seed = rng.choice(ctx.seeds)
    name = rng.choice(sorted(seed.files))
    kind = rng.choice([*NOT_FILES, "<unreadable>", "<empty>"])
    files = dict(seed.files)
    files[name] = {"<unreadable>": Unreadable(files[name]), "<empty>": b""}.get(kind, kind)
    folder = osp.join(ctx.workdir, "case")
    ctx.write_folder(folder, files)
    if kind in NOT_FILES:
        return _import_reporting(ctx, seed, name, kind)
    if kind == "<unreadable>" and os.geteuid() == 0:
        return _as_nobody(ctx, folder, seed.format)
    return ctx.check_folder(folder, seed.format, osp.join(ctx.workdir, "out"), seed.round_trip)


# --- name clashes on import ----------------------------------------------------------------------------

#: File-name prefixes read as one subset: a copy under another must be kept apart or refused, never merged.
SAME_SUBSET = (
    ("t10k-", "test-", "qmnist-test-", "emnist-digits-test-", "emnist-mnist-test-"),
    ("train-", "qmnist-train-", "emnist-digits-train-"),
    ("mnist_", "fashion-mnist_"),
)
_COMPRESSIONS = ("", ".gz", ".xz", ".bz2")


def _renames(rng: random.Random, names: List[str]) -> Dict[str, str]:
    """Old name -> clashing new name: every file of one prefix under another of its group."""
    options = [(old, new) for group in SAME_SUBSET for old in group for new in group if old != new
               and any(n.startswith(old) for n in names)]
    if not options:
        return {}
    old, new = rng.choice(options)
    return {n: new + n[len(old):] for n in names if n.startswith(old) and not n.startswith(new)}


def _recompressed(rng: random.Random, name: str, data: bytes) -> Tuple[str, bytes]:
    """The same file under another compression, its last byte changed (a valid, different file)."""
    import fuzz

    codec = fuzz._compression(name)
    plain = fuzz._safe_decompress(codec, data) if codec else data
    if not plain:
        return name, data
    plain = plain[:-1] + bytes([(plain[-1] + 1) % 10])
    new_codec = rng.choice([c for c in _COMPRESSIONS if c != codec])
    stem = name[: len(name) - len(codec)]
    return stem + new_codec, fuzz._CODECS[new_codec][1](plain) if new_codec else plain


def _count(folder: str, fmt: str) -> Optional[int]:
    from datumaro.components.dataset import Dataset

    try:
        return _touch_all(Dataset.import_from(folder, fmt))
    except Hang:
        raise
    except Exception:  # noqa: BLE001 - only the combined folder is judged
        return None


def run_name_clash(rng: random.Random, ctx: Context) -> Optional[Crash]:
    """Files copied under names of the same subset (t10k-/test-, mnist_/fashion-mnist_, raw/.gz/.xz)."""
    seed = rng.choice(ctx.seeds)
    names = sorted(seed.files)
    if rng.random() < 0.5:
        renames = _renames(rng, names)
        copies = {new: seed.files[old] for old, new in renames.items()}
    else:
        data_files = [n for n in names if "-idx" in n or n.endswith(".csv") and not n.startswith("meta_")]
        old = rng.choice(data_files or names)
        new, content = _recompressed(rng, old, seed.files[old])
        renames, copies = {old: new}, {new: content}
    if not copies or set(copies) & set(seed.files):
        return None
    parts = {
        "combined": {**seed.files, **copies},
        "original": seed.files,
        "renamed": {renames.get(n, n): v for n, v in seed.files.items() if n not in renames} | copies,
        "rest": {n: v for n, v in seed.files.items() if n not in renames},
    }
    counts = {}
    for part, files in parts.items():
        folder = osp.join(ctx.workdir, "case" if part == "combined" else part)
        ctx.write_folder(folder, files)
        if part != "combined":
            counts[part] = _count(folder, seed.format)
    folder = osp.join(ctx.workdir, "case")
    from datumaro.components.dataset import Dataset

    try:
        count = _touch_all(Dataset.import_from(folder, seed.format))
    except Hang:
        raise
    except Exception as e:  # noqa: BLE001
        return unclear(e, folder, "name-clash")
    if None in counts.values():
        OUTCOMES["name-clash: imported (not judged: a part fails alone)"] += 1
        return None
    expected = counts["original"] + counts["renamed"] - counts["rest"]
    if count != expected:
        return Crash(f"name-clash:merged:{seed.name}", f"{sorted(copies)} beside {sorted(renames)}: {count} items "
                     f"imported, {expected} expected (kept apart) or a clear error")
    OUTCOMES["name-clash: imported, kept apart"] += 1
    return None


# --- subset names on export ----------------------------------------------------------------------------

SUBSET_NAMES = (
    "train", "test", "t10k", "val", "Test", "TEST", "T10K", "tEsT", "default", "", "nist", "xnist",
    "emnist-digits-train", "emnist-letters-test", "qmnist-test", "qmnist-train", "fashion-mnist", "mnist",
    "meta", "images", "labels", "train-images", "ünïcödé", "测试", "e\u0301", "\u00e9", "a b", "a-b", "a_b",
    "a.b", "..", ".", "x/y", "x\\y", "nul\x00", "tab\t", "new\nline", "l" * 250, " test", "test ", "CON",
    "-images-idx3-ubyte", "mnist_train", "train.csv", "meta_train",
)


def _subset_dataset(rng: random.Random, names: List[str]):
    from datumaro.components.annotation import AnnotationType, Label, LabelCategories
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image

    items = [
        DatasetItem(id=str(rng.randrange(4)) + "-" + str(i), subset=name, annotations=[Label(rng.randrange(10))],
                    media=Image.from_numpy(data=np.full((28, 28), rng.randrange(256), np.uint8)))
        for name in names for i in range(rng.randint(1, 3))
    ]
    return Dataset.from_iterable(items, categories={AnnotationType.label: LabelCategories.from_iterable("0123456789")})


def _contents(dataset) -> Dict[Tuple[str, str], Tuple]:
    return {(item.subset, item.id): (tuple(a.label for a in item.annotations), np.asarray(item.media.data).tobytes())
            for item in dataset}


def run_subset_names(rng: random.Random, ctx: Context) -> Optional[Crash]:
    """A dataset of clashing subset names exported: the round trip is exact, or a clear error writes nothing."""
    from datumaro.components.dataset import Dataset
    from datumaro.components.errors import DatumaroError

    names = rng.sample(SUBSET_NAMES, rng.randint(1, 4))
    fmt = rng.choice(("mnist", "mnist_csv"))
    parent = osp.join(ctx.workdir, "export")
    shutil.rmtree(parent, ignore_errors=True)
    os.makedirs(parent)
    out = osp.join(parent, "out")
    try:
        dataset = _subset_dataset(rng, names)
    except ValueError:  # Datumaro's own item refuses it ('..' in a subset name)
        OUTCOMES["subset-names: refused by Datumaro's DatasetItem"] += 1
        return None
    try:
        expected = _contents(dataset)
        dataset.export(out, fmt, save_media=True)
    except DatumaroError:
        left = os.listdir(parent)
        OUTCOMES["subset-names: refused"] += 1
        return Crash(f"subset-names:left-behind:{fmt}", f"{names!r}: refused, left {left}") if left else None
    except Hang:
        raise
    except Exception as e:  # noqa: BLE001
        return Crash(signature(e, f"subset-names-export:{fmt}"), f"{names!r}\n{describe(e)}")
    try:
        again = _contents(Dataset.import_from(out, fmt))
    except Hang:
        raise
    except Exception as e:  # noqa: BLE001 - our own export must read back
        return Crash(signature(e, f"subset-names-reimport:{fmt}"), f"{names!r}\n{describe(e)}")
    if again != expected:
        lost = sorted(set(expected) ^ set(again))[:6]
        return Crash(f"subset-names:not-exact:{fmt}", f"{names!r}: {len(expected)} items exported, {len(again)} "
                     f"read back; differing keys {lost!r}")
    OUTCOMES["subset-names: round-tripped"] += 1
    return None


#: name -> (relative weight, run); all fast enough for CI.
IN_PROCESS_KINDS: Dict[str, Tuple[float, Callable[[random.Random, Context], Optional[Crash]]]] = {
    "file-kind": (0.08, run_file_kind),
    "name-clash": (0.08, run_name_clash),
    "subset-names": (0.08, run_subset_names),
    "recipe": (0.12, run_recipe),  # fuzz_recipes.py
}
