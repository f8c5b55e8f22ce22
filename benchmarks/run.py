"""Benchmark this package against Datumaro's built-in MNIST formats and against the floors.

    python benchmarks/run.py            # the full run: 70,000 digits, 1,000,000 streamed (a few minutes)
    python benchmarks/run.py --quick    # 7,000 digits, 100,000 streamed (about a minute)

Inputs are real digits (``../shared/data/mnist-dev``: 5,000 MNIST test digits; the 100-digit sample in
``assets/`` when that folder is absent) tiled to MNIST's shape, train 60,000 + test 10,000, in a
temporary folder deleted afterwards. Every case runs in a fresh Python process, so its peak memory
(VmHWM) is its own, and reports the median of several runs. Datumaro's built-ins are called as
their own classes, imported from ``datumaro.plugins.data_formats``; ours through the normal path,
``Dataset.import_from(path, "mnist")``, which the registration hook points at this package (each case
checks which class it got). A row is skipped, with a note, when one of our formats isn't registered.

The table is printed and written as Markdown to ``benchmarks/out/latest.md`` (untracked; ``--markdown PATH``
elsewhere); ``--record`` writes the committed ``benchmarks/latest.md`` instead.
Timings belong here, never in unit tests.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib
import json
import os
import os.path as osp
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
DEFAULT_DATA = osp.normpath(osp.join(REPO, "..", "shared", "data", "mnist-dev"))
SAMPLE_DATA = osp.join(REPO, "assets", "mnist-sample")
DEFAULT_MARKDOWN = osp.join(HERE, "out", "latest.md")  # untracked (.gitignore)
RECORDED_MARKDOWN = osp.join(HERE, "latest.md")  # the committed table: only with --record
DISABLE = "DATUMARO_MNIST_PLUGINS_DISABLE"
IMAGES, LABELS = "images-idx3-ubyte", "labels-idx1-ubyte"
DEFAULT_COMPRESS_LEVEL = 6  # the mnist exporter's default (--compress-level)


@dataclass
class Sizes:
    train: int
    test: int
    builtin_export: int  # the built-in exporter is quadratic: its row is capped at this many items
    stream: int
    hand_stream: int  # items built by hand for the streaming floor (a rate)
    synthetic: int
    startup_runs: int

    @property
    def total(self) -> int:
        return self.train + self.test


FULL = Sizes(60_000, 10_000, 5_000, 1_000_000, 200_000, 5_000, startup_runs=60)
QUICK = Sizes(6_000, 1_000, 1_000, 100_000, 50_000, 1_000, startup_runs=20)


# =========================================================================================================
# The cases. Each runs in its own process (``run.py --case NAME --params JSON``) and prints one JSON line.
# =========================================================================================================


def touch(item) -> None:
    """Read an item's image: get the array and one pixel of its last row (so a memory-mapped file is read)."""
    data = item.media.data
    data[-1, -1]


def resolved_class(registry, name: str) -> type:
    """The class a Datumaro registry hands out for *name* (resolving a lazy plugin)."""
    from datumaro.components.lazy_plugin import LazyPlugin

    plugin = registry.get(name)
    if isinstance(plugin, type) and issubclass(plugin, LazyPlugin):
        plugin = plugin.get_plugin_cls()
    return plugin


def qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__name__}"


def our_environment(fmt: str):
    """The default environment, after checking that the hook made *fmt* ours."""
    from datumaro.components.environment import DEFAULT_ENVIRONMENT

    for registry in (DEFAULT_ENVIRONMENT.importers, DEFAULT_ENVIRONMENT.extractors):
        cls = resolved_class(registry, fmt)
        if not cls.__module__.startswith("datumaro_mnist_plugins."):
            raise RuntimeError(f"'{fmt}' resolves to {qualname(cls)}, not this package: is the hook disabled?")
    return DEFAULT_ENVIRONMENT


BUILTIN_CLASSES = {
    "mnist": ("datumaro.plugins.data_formats.mnist", ("MnistBase", "MnistImporter", "MnistExporter")),
    "mnist_csv": ("datumaro.plugins.data_formats.mnist_csv", ("MnistCsvBase", "MnistCsvImporter", "MnistCsvExporter")),
}


def builtin_classes(fmt: str) -> Dict[str, type]:
    module_name, names = BUILTIN_CLASSES[fmt]
    module = importlib.import_module(module_name)
    return {name: getattr(module, name) for name in names}


def builtin_environment(fmt: str):
    """A fresh Environment in which *fmt* is Datumaro's own classes, registered directly."""
    from datumaro.components.environment import Environment

    env = Environment()
    for registry in (env.extractors, env.importers, env.exporters):
        registry.unregister(fmt)
    env.register_plugins(list(builtin_classes(fmt).values()))
    for registry in (env.importers, env.extractors):
        cls = resolved_class(registry, fmt)
        assert cls.__module__.startswith("datumaro.plugins."), qualname(cls)
    return env


def timed_runs(run: Callable[[], object], reps: int, budget: float, cleanup: Callable[[], None] = lambda: None):
    """Run *run* up to *reps* times (fewer once *budget* seconds are spent): wall and CPU seconds of each."""
    times: List[float] = []
    cpu: List[float] = []
    while len(times) < reps and (not times or sum(times) < budget):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()  # kept until the clocks are read: freeing a dataset is not part of the case
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        del result
        cleanup()
    return {"times": times, "cpu": cpu}


def case_baseline(p: dict) -> dict:
    import datumaro  # noqa: F401  what every case pays before it starts

    return {"times": [], "cpu": []}


def import_dataset(p: dict):
    """Dataset.import_from with ours or the built-in, then every image touched; the dataset."""
    from datumaro.components.dataset import Dataset

    env = our_environment(p["format"]) if p["impl"] == "ours" else builtin_environment(p["format"])

    def run():
        dataset = Dataset.import_from(p["path"], p["format"], env=env)
        count = 0
        for item in dataset:
            touch(item)
            count += 1
        assert count == p["items"], (count, p["items"])
        return dataset

    cls = resolved_class(env.extractors, p["format"])
    return run, qualname(cls)


def case_import(p: dict) -> dict:
    run, cls = import_dataset(p)
    return {**timed_runs(run, p["reps"], p["budget"]), "class": cls}


def case_hand_items(p: dict) -> dict:
    """The floor: the same DatasetItems built by hand from numpy arrays already in memory, images touched.

    With ``dataset``, they are also put in a Dataset (Dataset.from_iterable) and read back, which is
    what any import pays for Datumaro's cache.
    """
    from datumaro.components.annotation import Label
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image

    from datumaro_mnist_plugins.codecs import idx

    arrays = []
    for prefix, subset in (("train", "train"), ("t10k", "test")):
        images = idx.read_idx(osp.join(p["path"], f"{prefix}-{IMAGES}.gz"))
        labels = idx.read_idx(osp.join(p["path"], f"{prefix}-{LABELS}.gz"))
        arrays.append((subset, images, labels))

    def build():
        items = []
        for subset, images, labels in arrays:
            for i in range(len(images)):
                item = DatasetItem(
                    id=str(i), subset=subset, media=Image.from_numpy(data=images[i]), annotations=[Label(int(labels[i]))]
                )
                touch(item)
                items.append(item)
        return items

    def build_dataset():
        dataset = Dataset.from_iterable(build(), categories=[str(d) for d in range(10)])
        for item in dataset:
            touch(item)
        return dataset

    return timed_runs(build_dataset if p.get("dataset") else build, p["reps"], p["budget"])


def case_export(p: dict) -> dict:
    """Export a dataset already in memory (imported from IDX files, not timed) with ours or the built-in."""
    from datumaro.components.dataset import Dataset

    source_env = our_environment("mnist") if p["impl"] == "ours" else builtin_environment("mnist")
    dataset = Dataset.import_from(p["path"], "mnist", env=source_env)
    dataset.init_cache()
    out = osp.join(p["tmp"], f"export-{os.getpid()}")
    if p["impl"] == "ours":
        env = our_environment(p["format"])
        cls = resolved_class(env.exporters, p["format"])
        options = {"save_media": True, **p.get("options", {})}

        def run():
            dataset.export(out, p["format"], **options)
    else:
        cls = builtin_classes(p["format"])[BUILTIN_CLASSES[p["format"]][1][2]]

        def run():
            cls.convert(dataset, save_dir=out, save_media=True)

    times = timed_runs(run, p["reps"], p["budget"], cleanup=lambda: shutil.rmtree(out, ignore_errors=True))
    return {**times, "class": qualname(cls)}


def case_zlib(p: dict) -> dict:
    """The floor of an IDX export: zlib alone (gzip wrapper) on the images files' bytes, header included."""
    from datumaro_mnist_plugins.codecs import idx

    payloads = []
    for prefix in ("train", "t10k"):
        images = idx.read_idx(osp.join(p["path"], f"{prefix}-{IMAGES}.gz"))
        payloads.append(idx.header_bytes(images.dtype, images.shape) + images.tobytes())

    def run():
        size = 0
        for payload in payloads:
            compressor = zlib.compressobj(p["level"], zlib.DEFLATED, 31)
            size += len(compressor.compress(payload)) + len(compressor.flush())
        return size

    return {**timed_runs(run, p["reps"], p["budget"]), "bytes": sum(len(x) for x in payloads)}


def case_stream(p: dict) -> dict:
    """StreamDataset.import_from a big uncompressed IDX file, every image touched."""
    from datumaro.components.dataset import StreamDataset

    env = our_environment("mnist")

    def run():
        dataset = StreamDataset.import_from(p["path"], "mnist", env=env)
        count = 0
        for item in dataset:
            touch(item)
            count += 1
        assert count == p["items"], count

    return {**timed_runs(run, p["reps"], p["budget"]), "class": qualname(resolved_class(env.extractors, "mnist"))}


def case_hand_stream(p: dict) -> dict:
    """The streaming floor: items built by hand from an in-memory array, touched, and dropped (a rate)."""
    from datumaro.components.annotation import Label
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image

    from datumaro_mnist_plugins.codecs import idx

    images = idx.read_idx(osp.join(p["path"], f"t10k-{IMAGES}.gz"))
    labels = idx.read_idx(osp.join(p["path"], f"t10k-{LABELS}.gz"))
    count = len(images)

    def run():
        for i in range(p["items"]):
            j = i % count
            item = DatasetItem(
                id=str(i), subset="train", media=Image.from_numpy(data=images[j]), annotations=[Label(int(labels[j]))]
            )
            touch(item)

    return timed_runs(run, p["reps"], p["budget"])


def case_synthetic(p: dict) -> dict:
    from datumaro.components.dataset import Dataset

    env = our_environment("mnist_synthetic")

    def run():
        dataset = Dataset.import_from(p["path"], "mnist_synthetic", env=env)
        count = 0
        for item in dataset:
            touch(item)
            count += 1
        assert count == p["items"], count
        return dataset

    return {
        **timed_runs(run, p["reps"], p["budget"]),
        "class": qualname(resolved_class(env.extractors, "mnist_synthetic")),
    }


def case_synthetic_render(p: dict) -> dict:
    """The generator alone (no Datumaro items): what 'images per second on one core' means."""
    from datumaro_mnist_plugins.synthetic.strokes import DigitStyle, item_rng, render_digit

    style = DigitStyle()

    def run():
        for index in range(p["items"]):
            render_digit(index % 10, item_rng(0, "train", index), style)

    return timed_runs(run, p["reps"], p["budget"])


CASES = {
    "baseline": case_baseline,
    "import": case_import,
    "hand_items": case_hand_items,
    "export": case_export,
    "zlib": case_zlib,
    "stream": case_stream,
    "hand_stream": case_hand_stream,
    "synthetic": case_synthetic,
    "synthetic_render": case_synthetic_render,
}


def peak_rss_mb() -> float:
    """This process's peak resident memory.

    Linux's VmHWM, which starts afresh at exec; ``ru_maxrss`` would include the memory of the
    benchmark's parent at the time it started us.
    """
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (2**20 if sys.platform == "darwin" else 2**10)  # bytes on macOS, KiB elsewhere


def child_main(name: str, params: str) -> None:
    result = CASES[name](json.loads(params))
    result["peak_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result))


# =========================================================================================================
# The parent: inputs, running the cases, the table.
# =========================================================================================================


@dataclass
class Result:
    times: List[float]
    cpu: List[float]
    peak_mb: float
    info: dict

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def runs(self) -> int:
        return len(self.times)


class Runner:
    def __init__(self, args, tmp: str):
        self.args = args
        self.tmp = tmp

    def run(self, name: str, builtin: bool = False, **params) -> Result:
        params.setdefault("reps", self.args.reps)
        params.setdefault("budget", self.args.budget)
        params["tmp"] = self.tmp
        env = dict(os.environ)
        if builtin:
            env[DISABLE] = "1"  # the built-ins run without our hook in the process at all
        else:
            env.pop(DISABLE, None)
        label = f"{name} {'built-in' if builtin else ''} {params.get('format', '')} {params.get('impl', '')}"
        print(f"  running {' '.join(label.split())} ...", file=sys.stderr, flush=True)
        proc = subprocess.run(
            [sys.executable, osp.abspath(__file__), "--case", name, "--params", json.dumps(params)],
            env=env,
            capture_output=True,
            text=True,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode or not lines:
            raise RuntimeError(f"case {name} {params} failed:\n{proc.stdout}\n{proc.stderr}")
        data = json.loads(lines[-1][len("RESULT ") :])
        return Result(data.pop("times"), data.pop("cpu"), data.pop("peak_mb"), data)


    def alternate(self, name: str, rounds: int, ours: dict, builtin: dict) -> Tuple[Result, Result]:
        """The case for ours and for the built-in, in turns (*rounds* processes each): a slow spell on a
        shared machine then slows both sides, not one. The runs of each side are pooled."""
        pooled: Tuple[List[Result], List[Result]] = ([], [])
        for _ in range(rounds):
            pooled[0].append(self.run(name, **ours))
            pooled[1].append(self.run(name, builtin=True, **builtin))
        return tuple(  # type: ignore[return-value]
            Result(
                times=[t for r in results for t in r.times],
                cpu=[t for r in results for t in r.cpu],
                peak_mb=max(r.peak_mb for r in results),
                info=results[0].info,
            )
            for results in pooled
        )


def load_digits(folder: str) -> Tuple[np.ndarray, np.ndarray]:
    from datumaro_mnist_plugins.codecs import idx

    images = idx.read_idx(osp.join(folder, f"t10k-{IMAGES}.gz"))
    labels = idx.read_idx(osp.join(folder, f"t10k-{LABELS}.gz"))
    return np.ascontiguousarray(images), np.ascontiguousarray(labels)


def tiled(array: np.ndarray, count: int) -> np.ndarray:
    return np.resize(array, (count, *array.shape[1:]))


def write_mnist(folder: str, subsets: Dict[str, Tuple[np.ndarray, np.ndarray]]) -> None:
    """IDX files as MNIST ships them (gzip), with our codec (level 6: the size of the real files)."""
    from datumaro_mnist_plugins.codecs import idx

    os.makedirs(folder, exist_ok=True)
    for prefix, (images, labels) in subsets.items():
        idx.write_idx(osp.join(folder, f"{prefix}-{IMAGES}.gz"), images)
        idx.write_idx(osp.join(folder, f"{prefix}-{LABELS}.gz"), labels)


def write_raw_images(folder: str, images: np.ndarray, labels: np.ndarray, count: int) -> None:
    """Uncompressed ``train`` IDX files of *count* items, repeating *images*, written block by block."""
    from datumaro_mnist_plugins.codecs import idx

    os.makedirs(folder, exist_ok=True)
    with open(osp.join(folder, f"train-{IMAGES}"), "wb") as f:
        f.write(idx.header_bytes(np.uint8, (count, *images.shape[1:])))
        for start in range(0, count, len(images)):
            f.write(images[: min(len(images), count - start)].tobytes())
    idx.write_idx(osp.join(folder, f"train-{LABELS}"), tiled(labels, count))


def csv_rows(labels: np.ndarray, images: np.ndarray) -> bytes:
    """Rows ``label,p0,...,p783`` as the built-in ``mnist_csv`` writes them, built without a per-value loop."""
    comma = np.zeros((256, 4), np.uint8)  # each value's digits and its separator; 0 bytes are padding
    newline = np.zeros((256, 4), np.uint8)
    for value in range(256):
        text = str(value).encode()
        comma[value, : len(text) + 1] = np.frombuffer(text + b",", np.uint8)
        newline[value, : len(text) + 1] = np.frombuffer(text + b"\n", np.uint8)
    parts = []
    for start in range(0, len(labels), 5000):
        block = images[start : start + 5000]
        values = np.concatenate([labels[start : start + 5000, None], block.reshape(len(block), -1)], axis=1)
        cells = comma[values]
        cells[:, -1] = newline[values[:, -1]]
        flat = cells.reshape(-1)
        parts.append(flat[flat != 0].tobytes())
    return b"".join(parts)


def write_csv(folder: str, subsets: Dict[str, Tuple[np.ndarray, np.ndarray]]) -> None:
    os.makedirs(folder, exist_ok=True)
    for subset, (images, labels) in subsets.items():
        with open(osp.join(folder, f"mnist_{subset}.csv"), "wb") as f:
            f.write(csv_rows(labels, images))


def registered_formats() -> Dict[str, bool]:
    """Which of our formats the package registers (read from its PLUGINS table, no Datumaro import)."""
    from datumaro_mnist_plugins import registration

    names = {row[0] for row in registration.PLUGINS}
    return {name: name in names for name in ("mnist", "mnist_csv", "mnist_synthetic")}


# --- start-up cost ---------------------------------------------------------------------------------------


def startup_cost(runs: int, pycache: str) -> dict:
    """What the .pth hook adds to ``python -c pass``: -X importtime of its modules, and wall time with it
    enabled vs DATUMARO_MNIST_PLUGINS_DISABLE=1 (interleaved runs, medians).

    Bytecode is cached in a temporary PYTHONPYCACHEPREFIX, as after a normal ``pip install`` (a dev
    shell with PYTHONDONTWRITEBYTECODE=1 would compile our modules at every start).
    """
    base = {k: v for k, v in os.environ.items() if k not in (DISABLE, "PYTHONDONTWRITEBYTECODE")}
    base["PYTHONPYCACHEPREFIX"] = pycache
    on, off = dict(base), dict(base, **{DISABLE: "1"})
    for env in (on, off):
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)  # compile and cache once

    ours = []
    for _ in range(max(5, runs // 4)):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], env=on, capture_output=True, text=True).stderr
        total = 0
        for line in err.splitlines():
            parts = [x.strip() for x in line.split("|")]
            # only top-level packages of ours; their cumulative time includes their submodules
            if len(parts) == 3 and parts[2] == "datumaro_mnist_plugins":
                total += int(parts[1])
        ours.append(total / 1000)

    walls: Dict[str, List[float]] = {"on": [], "off": []}
    for _ in range(runs):
        for key, env in (("on", on), ("off", off)):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
            walls[key].append((time.perf_counter() - start) * 1000)
    return {
        "importtime_ms": statistics.median(ours),
        "wall_on_ms": statistics.median(walls["on"]),
        "wall_off_ms": statistics.median(walls["off"]),
    }


# --- the table -------------------------------------------------------------------------------------------


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def runs_note(result: Result) -> str:
    return f" (median of {result.runs})" if result.runs > 1 else " (1 run)"


def rate(count: int, result: Result) -> str:
    return f"{count / result.median:,.0f} items/s"


@dataclass
class Row:
    case: str
    items: str
    ours: str
    reference: str
    ratio: str
    memory: str
    target: str = ""
    met: str = ""


def check(ok: bool) -> str:
    return "yes" if ok else "**no**"


def sized_check(args, ok: bool) -> str:
    """A target set for the full run's sizes (a quick run's 1,000-item quadratic export can't reach 100×)."""
    return "n/a (`--quick`)" if args.quick else check(ok)


def faster(reference: Result, ours: Result) -> str:
    ratio = reference.median / ours.median
    return f"{ratio:,.1f}× faster" if ratio >= 1 else f"{1 / ratio:.2f}× slower"


def mem(*pairs: Optional[Result]) -> str:
    return " / ".join(f"{res.peak_mb:.0f} MB" for res in pairs if res is not None)


def timed(result: Result) -> str:
    return seconds(result.median) + runs_note(result)


def mnist_import_rows(args, sizes: Sizes, r: Dict[str, Optional[Result]]) -> List[Row]:
    n = f"{sizes.total:,}"
    ours, builtin, hand, hand_ds = r["import_ours"], r["import_builtin"], r["hand_items"], r["hand_dataset"]
    ratio = ours.median / hand.median
    return [
        Row(
            "`mnist` eager import (`Dataset.import_from` + every image read)", n,
            timed(ours), "built-in: " + timed(builtin), faster(builtin, ours), mem(ours, builtin),
        ),
        Row(
            "`mnist` eager import vs the floor", n, seconds(ours.median),
            "same items built by hand from numpy arrays: " + timed(hand),
            f"{ratio:.2f}× the floor (CPU time: {ours.cpu_median / hand.cpu_median:.2f}×)", mem(hand),
            "≤ 1.15× the floor", sized_check(args, ratio <= 1.15),
        ),
        Row(
            "(for scale) items by hand, put in a `Dataset` and read back", n, "",
            timed(hand_ds), f"ours is {ours.median / hand_ds.median:.2f}× this", mem(hand_ds),
        ),
    ]


def mnist_export_rows(args, sizes: Sizes, r: Dict[str, Optional[Result]]) -> List[Row]:
    n, level = f"{sizes.total:,}", args.compress_level
    ours, zl, small, small_builtin = r["export_ours"], r["zlib"], r["export_small_ours"], r["export_small_builtin"]
    est = small_builtin.median * (sizes.total / sizes.builtin_export) ** 2
    ratio = ours.median / zl.median
    speedup = small_builtin.median / small.median
    return [
        Row(
            f"`mnist` export, `save_media`, gzip level {level}", n, timed(ours),
            f"built-in: capped at {sizes.builtin_export:,} items (quadratic: {sizes.total:,} would take ~{est / 60:.0f} min)",
            "", mem(ours), "≤ 2 s", sized_check(args, ours.median <= 2),
        ),
        Row(
            f"`mnist` export vs zlib alone, level {level}", n, seconds(ours.median),
            f"zlib on the same {zl.info['bytes'] / 1e6:.0f} MB: " + timed(zl),
            f"{ratio:.2f}× zlib", mem(zl), "≤ 1.3× zlib", sized_check(args, ratio <= 1.3),
        ),
        Row(
            f"`mnist` export, `save_media`, {sizes.builtin_export:,} real digits", f"{sizes.builtin_export:,}",
            timed(small), "built-in: " + timed(small_builtin),
            faster(small_builtin, small), mem(small, small_builtin), "≥ 100× faster", sized_check(args, speedup >= 100),
        ),
    ]


def versus_builtin(args, r: Dict[str, Optional[Result]], key: str, case: str, items: str, times: float) -> Row:
    """A row of ours against the built-in (results ``<key>_ours``, ``<key>_builtin``), with a target of *times*."""
    ours, builtin = r[f"{key}_ours"], r[f"{key}_builtin"]
    return Row(
        case, items, timed(ours), "built-in: " + timed(builtin), faster(builtin, ours), mem(ours, builtin),
        f"≥ {times:g}× faster", sized_check(args, builtin.median / ours.median >= times),
    )


def csv_table_rows(args, sizes: Sizes, r: Dict[str, Optional[Result]]) -> List[Row]:
    n, real = f"{sizes.total:,}", sizes.builtin_export
    if r.get("csv_import_ours") is None:
        return [Row("`mnist_csv` import / export", n, "skipped: this package registers no `mnist_csv` yet", "", "", "")]
    rows = [
        versus_builtin(args, r, "csv_import", "`mnist_csv` eager import (every image read)", n, 10),
        versus_builtin(args, r, "csv_export", "`mnist_csv` export, `save_media`", n, 3),
    ]
    for count, what in ((real, f"the {real:,} real digits"), (2 * real, "the real digits twice")):
        rows.append(versus_builtin(args, r, f"csv_import_{count}", f"`mnist_csv` eager import, {what}", f"{count:,}", 10))
    rows.append(versus_builtin(
        args, r, "csv_export_small", f"`mnist_csv` export, `save_media`, the {real:,} real digits", f"{real:,}", 3
    ))
    return rows


def synthetic_rows(args, sizes: Sizes, r: Dict[str, Optional[Result]]) -> List[Row]:
    synth = r.get("synthetic")
    if synth is None:
        return [Row("`mnist_synthetic` generation", "", "skipped: this package registers no `mnist_synthetic` yet", "", "", "")]
    render = r["synthetic_render"]
    render_rate = sizes.synthetic / render.cpu_median
    return [
        Row(
            "`mnist_synthetic` generation (import a recipe, every image read)", f"{sizes.synthetic:,}",
            rate(sizes.synthetic, synth) + runs_note(synth), "", "", mem(synth),
        ),
        Row(
            "`mnist_synthetic` drawing alone (`render_digit`, one core, CPU time)", f"{sizes.synthetic:,}",
            f"{render_rate:,.0f} images/s" + runs_note(render), "", "", mem(render),
            "≥ 5,000 images/s", sized_check(args, render_rate >= 5000),
        ),
    ]


def stream_rows(args, sizes: Sizes, r: Dict[str, Optional[Result]]) -> List[Row]:
    stream, hand_stream = r["stream"], r["hand_stream"]
    ours_rate, hand_rate = sizes.stream / stream.median, sizes.hand_stream / hand_stream.median
    cpu_ratio = (sizes.stream / stream.cpu_median) / (sizes.hand_stream / hand_stream.cpu_median)
    return [
        Row(
            "streaming import of one uncompressed IDX file (`StreamDataset`), every image read",
            f"{sizes.stream:,}", rate(sizes.stream, stream) + runs_note(stream),
            "items built by hand: " + rate(sizes.hand_stream, hand_stream) + runs_note(hand_stream),
            f"{ours_rate / hand_rate:.0%} of the floor's rate (CPU time: {cpu_ratio:.0%})",
            mem(stream, hand_stream),
            "≥ 80% of the floor's rate", sized_check(args, ours_rate >= 0.8 * hand_rate),
        ),
        Row(
            "streaming import: peak memory", f"{sizes.stream:,}", f"{stream.peak_mb:.0f} MB",
            f"the file: {sizes.stream * 784 / 1e6:,.0f} MB", "", "", "< 300 MB", sized_check(args, stream.peak_mb < 300),
        ),
    ]


def startup_rows(sizes: Sizes, startup: dict) -> List[Row]:
    diff = startup["wall_on_ms"] - startup["wall_off_ms"]
    return [
        Row(
            "start-up: `python -c pass`, hook on vs `DATUMARO_MNIST_PLUGINS_DISABLE=1`", f"{sizes.startup_runs} runs each",
            f"{startup['wall_on_ms']:.1f} ms", f"{startup['wall_off_ms']:.1f} ms", f"{diff:+.2f} ms", "",
            "< 2 ms", check(diff < 2),
        ),
        Row(
            "start-up: `python -X importtime -c pass`, our modules (cumulative)", "", f"{startup['importtime_ms']:.2f} ms",
            "", "", "", "< 2 ms", check(startup["importtime_ms"] < 2),
        ),
    ]


def build_rows(args, sizes: Sizes, results: Dict[str, Optional[Result]], startup: dict) -> List[Row]:
    """The table's rows, by format, in the order of the benchmark page."""
    return (
        mnist_import_rows(args, sizes, results)
        + mnist_export_rows(args, sizes, results)
        + csv_table_rows(args, sizes, results)
        + synthetic_rows(args, sizes, results)
        + stream_rows(args, sizes, results)
        + startup_rows(sizes, startup)
    )


def render(rows: List[Row], header: List[str], notes: List[str]) -> str:
    columns = ["case", "items", "this package", "reference", "ratio", "peak RSS (ours / ref)", "target", "met"]
    lines = header + ["", "| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = [row.case, row.items, row.ours, row.reference, row.ratio, row.memory, row.target, row.met]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def machine_header(args, sizes: Sizes, data: str, baseline: Result, load: float) -> List[str]:
    import datumaro

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return [
        f"Benchmark of datumaro-mnist-plugins, {datetime.date.today().isoformat()}"
        f"{' (--quick)' if args.quick else ''}: `python benchmarks/run.py{' --quick' if args.quick else ''}`",
        "",
        f"- machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, Datumaro {datumaro.__version__}, "
        f"numpy {np.__version__}, {platform.system()} {platform.release()}",
        f"- data: real digits from `{osp.relpath(data, REPO)}`, tiled to train {sizes.train:,} + test {sizes.test:,}; "
        f"every case in a fresh process, median of up to {args.reps} runs (fewer when a case is slow)",
        f"- peak RSS is the whole process's (VmHWM); a process that only imports Datumaro peaks at "
        f"{baseline.peak_mb:.0f} MB",
        f"- load average (1 min) when the run started: {load:.2f} (other work on the machine slows every figure; "
        "ratios measured in the same run suffer least)",
    ]


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller run (7,000 items, 100,000 streamed)")
    parser.add_argument("--reps", type=int, default=7, help="runs per case (median reported; default %(default)s)")
    parser.add_argument("--budget", type=float, default=20.0, help="stop repeating a case after this many seconds")
    parser.add_argument("--data", default=None, help="folder with t10k-images/labels IDX .gz files (real digits)")
    parser.add_argument("--compress-level", type=int, default=DEFAULT_COMPRESS_LEVEL, choices=range(10), metavar="0-9",
                        help="gzip level of our mnist export and of the zlib floor (default: the exporter's, %(default)s)")
    parser.add_argument("--markdown", default=None, help=f"where to write the table (default {DEFAULT_MARKDOWN})")
    parser.add_argument("--record", action="store_true", help=f"write the table to the committed {RECORDED_MARKDOWN}")
    parser.add_argument("--tmp", default=None, help="where to build the inputs (a temporary folder inside it)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    return parser


def build_inputs(tmp: str, data: str, sizes: Sizes, formats: Dict[str, bool]) -> Dict[str, str]:
    """The input folders of the cases, written under *tmp*: name -> folder."""
    print(f"building inputs in {tmp} ...", file=sys.stderr, flush=True)
    images, labels = load_digits(data)
    folders = {name: osp.join(tmp, name) for name in ("mnist", "mnist-small", "csv", "stream")}
    split = {"train": (tiled(images, sizes.train), tiled(labels, sizes.train)),
             "t10k": (tiled(images, sizes.test), tiled(labels, sizes.test))}
    write_mnist(folders["mnist"], split)
    write_mnist(folders["mnist-small"], {"t10k": (tiled(images, sizes.builtin_export), tiled(labels, sizes.builtin_export))})
    write_raw_images(folders["stream"], images, labels, sizes.stream)
    if formats["mnist_csv"]:
        write_csv(folders["csv"], {"train": split["train"], "test": split["t10k"]})
        for count in (sizes.builtin_export, 2 * sizes.builtin_export):
            folders[f"csv-{count}"] = osp.join(tmp, f"csv-{count}")
            write_csv(folders[f"csv-{count}"], {"test": (tiled(images, count), tiled(labels, count))})
    return folders  # each case forks this process: the arrays go out of scope here


def run_mnist_cases(runner: Runner, args, sizes: Sizes, folders: Dict[str, str]) -> Dict[str, Result]:
    mnist_dir, small_dir = folders["mnist"], folders["mnist-small"]
    common = {"path": mnist_dir, "format": "mnist", "items": sizes.total}
    level = {"options": {"compress_level": args.compress_level}}
    return {
        "import_ours": runner.run("import", impl="ours", **common),
        "import_builtin": runner.run("import", builtin=True, impl="builtin", **common),
        "hand_items": runner.run("hand_items", path=mnist_dir),
        "hand_dataset": runner.run("hand_items", path=mnist_dir, dataset=True),
        "export_ours": runner.run("export", impl="ours", path=mnist_dir, format="mnist", **level),
        "zlib": runner.run("zlib", path=mnist_dir, level=args.compress_level),
        "export_small_ours": runner.run("export", impl="ours", path=small_dir, format="mnist", **level),
        "export_small_builtin": runner.run("export", builtin=True, impl="builtin", path=small_dir, format="mnist", reps=1),
    }


def run_csv_cases(runner: Runner, sizes: Sizes, folders: Dict[str, str]) -> Dict[str, Result]:
    mnist_dir, small_dir = folders["mnist"], folders["mnist-small"]
    common = {"path": folders["csv"], "format": "mnist_csv", "items": sizes.total}
    results = {
        "csv_import_ours": runner.run("import", impl="ours", **common),
        "csv_import_builtin": runner.run("import", builtin=True, impl="builtin", reps=1, **common),
        "csv_export_ours": runner.run("export", impl="ours", path=mnist_dir, format="mnist_csv"),
        "csv_export_builtin": runner.run("export", builtin=True, impl="builtin", path=mnist_dir, format="mnist_csv", reps=1),
    }
    for count in (sizes.builtin_export, 2 * sizes.builtin_export):  # the sizes the issue names
        common = {"path": folders[f"csv-{count}"], "format": "mnist_csv", "items": count}
        results[f"csv_import_{count}_ours"], results[f"csv_import_{count}_builtin"] = runner.alternate(
            "import", rounds=3, ours={"impl": "ours", "reps": 5, **common}, builtin={"impl": "builtin", "reps": 1, **common},
        )
    results["csv_export_small_ours"] = runner.run("export", impl="ours", path=small_dir, format="mnist_csv")
    results["csv_export_small_builtin"] = runner.run(
        "export", builtin=True, impl="builtin", path=small_dir, format="mnist_csv", reps=3
    )
    return results


def run_cases(args, tmp: str, sizes: Sizes, folders: Dict[str, str], formats, notes: List[str]):
    """Every case, each in fresh processes: (results by name, start-up costs)."""
    runner = Runner(args, tmp)
    results: Dict[str, Optional[Result]] = {"baseline": runner.run("baseline")}
    results.update(run_mnist_cases(runner, args, sizes, folders))
    if formats["mnist_csv"]:
        results.update(run_csv_cases(runner, sizes, folders))
    else:
        notes.append("`mnist_csv` rows skipped: the package does not register that format yet")
    if formats["mnist_synthetic"]:
        recipe = osp.join(tmp, "recipe.json")
        with open(recipe, "w") as f:
            json.dump({"seed": 0, "subsets": {"train": sizes.synthetic}}, f)
        results["synthetic"] = runner.run("synthetic", path=recipe, items=sizes.synthetic, reps=3)
        results["synthetic_render"] = runner.run("synthetic_render", items=sizes.synthetic, reps=3)
    else:
        notes.append("`mnist_synthetic` row skipped: the package does not register that format yet")
    results["stream"] = runner.run("stream", path=folders["stream"], items=sizes.stream, reps=3, budget=60)
    results["hand_stream"] = runner.run("hand_stream", path=folders["mnist"], items=sizes.hand_stream, reps=3)
    print("  measuring start-up ...", file=sys.stderr, flush=True)
    return results, startup_cost(sizes.startup_runs, osp.join(tmp, "pycache"))


def method_notes(args, sizes: Sizes, started: float) -> List[str]:
    return [
        f"export rows: the dataset is already in memory (imported with ours, not timed); ours writes gzip IDX at "
        f"`--compress-level {args.compress_level}` (the default), the built-in at gzip's level 9",
        "zlib floor: `zlib.compressobj(level, wbits=31)` (gzip) on the bytes of the images files, in memory",
        f"`mnist_csv` import of {sizes.builtin_export:,} and {2 * sizes.builtin_export:,} rows: ours and the built-in "
        "in turns, 3 processes each (5 runs per process for ours, 1 for the built-in), runs pooled; each "
        "process's first run is in its median",
        "streaming: the file is in the page cache after it is written; 'read' = the array and one pixel of its "
        "last row, which pages in every image",
        "start-up: bytecode cached (PYTHONPYCACHEPREFIX in the temp folder), as after `pip install`",
        f"whole run: {time.perf_counter() - started:.0f} s",
    ]


def write_table(args, text: str) -> None:
    """The table to --markdown, else the untracked default; the committed one only with --record."""
    markdown = args.markdown or (RECORDED_MARKDOWN if args.record else DEFAULT_MARKDOWN)
    os.makedirs(osp.dirname(osp.abspath(markdown)), exist_ok=True)
    with open(markdown, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"written to {markdown}", file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argument_parser()
    args = parser.parse_args(argv)
    if args.case:
        child_main(args.case, args.params)
        return 0
    try:
        import datumaro_mnist_plugins  # noqa: F401
    except ImportError:
        parser.error("install the package first (from the repository: pip install '.[cli]')")

    sizes = QUICK if args.quick else FULL
    notes: List[str] = []
    data = args.data or (DEFAULT_DATA if osp.isdir(DEFAULT_DATA) else SAMPLE_DATA)
    if data == SAMPLE_DATA:
        notes.append(f"`{osp.relpath(DEFAULT_DATA, REPO)}` is absent: tiled from the 100-digit sample in `assets/`")
    formats = registered_formats()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    tmp = tempfile.mkdtemp(prefix="mnist-bench-", dir=args.tmp)
    try:
        folders = build_inputs(tmp, data, sizes, formats)
        results, startup = run_cases(args, tmp, sizes, folders, formats, notes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    notes += method_notes(args, sizes, started)
    rows = build_rows(args, sizes, results, startup)
    text = render(rows, machine_header(args, sizes, data, results["baseline"], load_before), notes)
    print(text)
    write_table(args, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
