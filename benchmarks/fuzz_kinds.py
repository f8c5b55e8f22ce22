"""The fuzzer's mutation kinds beyond mutated bytes: file kinds, name clashes, subset names, recipes.

Each kind is one function ``run(rng, ctx) -> Optional[Crash]`` in :data:`IN_PROCESS_KINDS`; ``fuzz.py``
picks one per run (by weight, from the run's ``random.Random``, so ``--replay`` works) and runs it under
a time bound: a hang is a crash. Exports that race or are killed need processes: ``fuzz_races.py``.
"""

from __future__ import annotations

import itertools
import json
import os
import os.path as osp
import pickle
import random
import select
import shutil
import time
import tracemalloc
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from fuzz_oracle import OUTCOMES, Crash, Hang, describe, signature, unclear


@dataclass
class Context:
    """What a kind needs of ``fuzz.py``: the seeds, a scratch folder, and its folder writer and checker."""

    seeds: list
    workdir: str
    write_folder: Callable[[str, Dict], None]
    check_folder: Callable[..., Optional[Crash]]
    traced: bool = False
    #: per seed name: the allocation peak a mutation of it may reach (None: not traced)
    limits: Optional[Dict[str, int]] = None


#: Allocation peaks of unmutated inputs, per name (measured once, by the kinds that trace).
PEAKS: Dict[str, int] = {}


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


def _fingerprint(folder: str, fmt: str) -> Optional[tuple]:
    """What a user gets from importing *folder*: items, labels, pixels, class names (None: an error)."""
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset

    try:
        dataset = Dataset.import_from(folder, fmt)
        names = [c.name for c in dataset.categories()[AnnotationType.label]]
        items = sorted((item.subset, item.id, tuple(a.label for a in item.annotations),
                        None if item.media is None or not item.media.has_data else np.asarray(item.media.data).tobytes())
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


# --- recipes -------------------------------------------------------------------------------------------

BASE_RECIPES = (
    {"seed": 3, "subsets": {"train": 12, "test": 5}},
    {"seed": 1, "subsets": {"train": {"count": 30, "keep_classes": [3, 8]}, "test": {"count": 20, "indices": "0-4,7"}},
     "classes": [3, 8, 1], "proportions": [1, 2, 1], "label_names": ["three", "eight", "one"],
     "style": {"image_size": 28, "stroke_width": [1.6, 3.2], "slant": [-10, 10], "noise": 0.1}},
    {"seed": 0, "subsets": {"a": {"count": 9, "proportions": [1, 0, 0, 0, 0, 0, 0, 0, 0, 5]}}},
)
HOSTILE_VALUES = (
    0, -1, 1, 2**31, 2**63, 10**30, 10**9, 1e308, -1e308, float("nan"), float("inf"), 0.5, True, None, "", "x",
    "0-99999999999", "5-1", "1,,2", [], {}, [[1]], [1e308, 1], [-5, 5], [5, -5], {"count": 10**12},
    {"count": 10**6, "indices": "0-999999"}, {"count": 3, "keep_classes": list(range(50))}, "ü",
    list(range(2000)), {"1": 2, 3: 4}, [None], [True, False],
)
#: Values a recipe may well hold: most mutations should still import, to reach the drawing.
PLAUSIBLE_VALUES = (0, 1, 2, 5, 9, 28, 64, 0.0, 0.3, 1.5, [1, 2], [0.5, 1.5], [-5, 5], [3, 8], "0-3", "1,4",
                    {"count": 4}, {"count": 6, "keep_classes": [1]}, [1, 1, 1], "train", 8, 100, [8, 8])
YAML_TOKENS = (b"&a ", b"*a", b"<<: *a\n", b"!!python/object:os.system ", b"!!binary ", b"- ", b": ", b"? ",
               b"\t", b"{", b"}", b"[", b"]", b",", b"\n", b"  ", b"#", b"'", b'"', b"|\n", b">\n", b"%YAML 1.1\n",
               b"---\n", b"...\n", b"1e999", b".nan", b"-.inf", b"0x7fffffffffffffff", b"~", b"\xef\xbb\xbf", b"\x00")


def _paths(value, prefix=()) -> List[tuple]:
    """Every key path in a recipe's data (mappings and lists)."""
    paths = [prefix]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        paths.extend(_paths(child, prefix + (key,)))
    return paths


def _get(data, path: tuple):
    for key in path:
        data = data[key]
    return data


def _set(data, path: tuple, value):
    if not path:
        return value
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def _nested(depth: int, yaml_text: bool) -> str:
    return "seed: " + "[" * depth + "]" * depth if yaml_text else '{"seed": ' + "[" * depth + "]" * depth + "}"


def _alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nsubsets: {{train: 3}}\nclasses: *a{levels - 1}\n"


def _recipe_text(rng: random.Random) -> Tuple[bytes, str]:
    """A mutated recipe's bytes and its file name."""
    import copy

    import yaml

    data = copy.deepcopy(rng.choice(BASE_RECIPES))
    roll, suffix = rng.random(), rng.choice((".yaml", ".yml", ".json"))
    if roll < 0.08:
        return _alias_bomb(rng.randint(2, 9)).encode(), ".yaml"
    if roll < 0.14:
        return _nested(rng.choice((50, 70, 1000, 100_000)), suffix != ".json").encode(), suffix
    for _ in range(rng.choice((1, 1, 2, 3))):  # wrong types, huge numbers, mixed key types, per key
        path = rng.choice(_paths(data))
        if isinstance(_get(data, path), dict) and rng.random() < 0.3:  # a new key, of any type
            path = path + (rng.choice(("seed", "count", "style", 1, 2.5, None, True, "colour", "")),)
        try:
            data = _set(data, path, rng.choice(rng.choice((HOSTILE_VALUES, PLAUSIBLE_VALUES, PLAUSIBLE_VALUES))))
        except (TypeError, IndexError, KeyError):
            pass
    if suffix == ".json":
        text = json.dumps(data, default=str).encode()  # NaN, Infinity written as JSON5-ish tokens
    else:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()
    if rng.random() < 0.25:  # token splices
        text = bytearray(text)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(text) + 1)
            text[pos:pos] = rng.choice(YAML_TOKENS)
        text = bytes(text)
    return text, suffix


def _sample_items(extractor, per_subset: int = 25) -> int:
    """Render the first items of every subset; check each is a 2-D image and its label a category."""
    labels = len(extractor.categories()[next(iter(extractor.categories()))])
    count = 0
    for name in list(extractor.subsets())[:8]:
        for item in itertools.islice(extractor.get_subset(name), per_subset):
            image = np.asarray(item.media.data)
            if image.ndim != 2 or not image.size:
                raise AssertionError(f"item {item.id} of {name!r}: image of shape {image.shape}")
            if any(not 0 <= a.label < labels for a in item.annotations):
                raise AssertionError(f"item {item.id} of {name!r}: label outside the {labels} categories")
            count += 1
    return count


def _check_recipe(path: str, folder: str) -> Optional[Crash]:
    from datumaro.components.dataset import StreamDataset
    from datumaro.components.environment import Environment

    try:
        StreamDataset.import_from(path, "mnist_synthetic")
        extractor = Environment().extractors.get("mnist_synthetic")(
            osp.join(path, "recipe.yaml") if osp.isdir(path) else path)
    except Hang:
        raise
    except Exception as e:  # noqa: BLE001
        return unclear(e, folder, "recipe-import")
    try:
        _sample_items(extractor)
    except Hang:
        raise
    except Exception as e:  # noqa: BLE001 - a recipe that imports makes items that render
        return Crash(signature(e, "recipe-render"), describe(e))
    OUTCOMES["recipe: imported, items render"] += 1
    return None


def run_recipe(rng: random.Random, ctx: Context) -> Optional[Crash]:
    """A mutated YAML/JSON recipe: a clear error, or a dataset whose items render, in bounded memory."""
    from datumaro_mnist_plugins.parallel_render import WORKERS_ENV

    os.environ.setdefault(WORKERS_ENV, "1")  # one fuzz process on a shared machine
    text, suffix = _recipe_text(rng)
    folder = osp.join(ctx.workdir, "case")
    as_folder = suffix == ".yaml" and rng.random() < 0.3
    ctx.write_folder(folder, {("recipe.yaml" if as_folder else "recipe" + suffix): text})
    path = folder if as_folder else osp.join(folder, "recipe" + suffix)
    if not ctx.traced:
        return _check_recipe(path, folder)
    if "recipe" not in PEAKS:  # the unmutated recipe's peak, once
        ctx.write_folder(osp.join(ctx.workdir, "base"), {"recipe.yaml": json.dumps(BASE_RECIPES[1]).encode()})
        tracemalloc.start()
        _check_recipe(osp.join(ctx.workdir, "base", "recipe.yaml"), osp.join(ctx.workdir, "base"))
        PEAKS["recipe"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    tracemalloc.start()
    try:
        crash = _check_recipe(path, folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    limit = 2 * PEAKS["recipe"] + (16 << 20)
    if crash is None and peak > limit:
        crash = Crash("memory:recipe", f"traced peak {peak} bytes > {limit}\n{text[:2000]!r}")
    return crash


#: name -> (relative weight, run); all fast enough for CI.
IN_PROCESS_KINDS: Dict[str, Tuple[float, Callable[[random.Random, Context], Optional[Crash]]]] = {
    "file-kind": (0.08, run_file_kind),
    "name-clash": (0.08, run_name_clash),
    "subset-names": (0.08, run_subset_names),
    "recipe": (0.12, run_recipe),
}
