"""Quick `mnist_csv` timings: real digits (5,000 of them, and them twice), ours vs Datumaro's built-in.

    python benchmarks/csv_quick.py [--data ../shared/data/mnist-dev] [--repeat 5]

Without ``--data`` it uses ``../shared/data/mnist-dev`` when that folder exists, and otherwise the 100 real
digits in ``assets/mnist-sample`` (saying so): a clone runs it as it is.

One process, best of ``--repeat`` runs (the machine is shared; the best run is the least disturbed).
Both sides are called as classes, not through format lookup: the built-in's ``MnistCsvBase`` /
``MnistCsvExporter`` from ``datumaro.plugins.data_formats.mnist_csv``, ours from this package.

* export: the digits, already in memory, to ``mnist_<subset>.csv`` with ``save_media``;
* parse: building the extractor (reading and parsing the file);
* import: building it and iterating every item (``DatasetItem`` + ``Image`` per row).
"""

from __future__ import annotations

import argparse
import os.path as osp
import shutil
import sys
import tempfile
import time
from typing import Optional


HERE = osp.dirname(osp.abspath(__file__))
DEFAULT_DATA = osp.normpath(osp.join(HERE, "..", "..", "shared", "data", "mnist-dev"))
SAMPLE_DATA = osp.normpath(osp.join(HERE, "..", "assets", "mnist-sample"))
FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def data_folder(parser: argparse.ArgumentParser, given: Optional[str]) -> str:
    """``--data`` if given (an error, not a traceback, when it lacks the files); else the real digits, else the sample."""
    folder = given or DEFAULT_DATA
    missing = [name for name in FILES if not osp.isfile(osp.join(folder, name))]
    if not missing:
        return folder
    if given:
        parser.error(f"--data {given}: no {', '.join(missing)} there")
    print(f"note: {DEFAULT_DATA} is absent; using the 100-digit sample in {SAMPLE_DATA} (pass --data for more)")
    return SAMPLE_DATA


def best(repeat: int, run) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help=f"folder with {FILES[0]} and {FILES[1]} (default {DEFAULT_DATA})")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = data_folder(parser, args.data)

    from datumaro.components.annotation import AnnotationType, Label, LabelCategories
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image
    from datumaro.plugins.data_formats import mnist_csv as builtin

    from datumaro_mnist_plugins.codecs import idx
    from datumaro_mnist_plugins import mnist_csv as ours

    images = idx.read_idx(osp.join(data, FILES[0]))
    labels = idx.read_idx(osp.join(data, FILES[1]))
    n = len(images)
    digits = Dataset.from_iterable(
        [
            DatasetItem(id=str(i), subset="test", media=Image.from_numpy(data=images[i]), annotations=[Label(int(labels[i]))])
            for i in range(len(images))
        ],
        categories={AnnotationType.label: LabelCategories.from_iterable(str(d) for d in range(10))},
    )
    work = tempfile.mkdtemp(prefix="csv-quick-")
    try:
        rows = {}
        for side, module in (("built-in", builtin), ("ours", ours)):
            out = osp.join(work, side.replace("-", ""))
            export = best(args.repeat, lambda: module.MnistCsvExporter.convert(digits, out, save_media=True))
            path = osp.join(out, "mnist_test.csv")
            twice = osp.join(work, f"{side}-10k", "mnist_test.csv")
            shutil.os.makedirs(osp.dirname(twice), exist_ok=True)
            with open(path, "rb") as f:
                data = f.read()
            with open(twice, "wb") as f:
                f.write(data + data)
            cells = {f"export {n:,}": export}
            for name, csv_path in ((f"{n:,}", path), (f"{2 * n:,}", twice)):
                cells[f"parse {name}"] = best(args.repeat, lambda: module.MnistCsvBase(csv_path))
                cells[f"import {name}"] = best(
                    args.repeat, lambda: [item.media.data for item in module.MnistCsvBase(csv_path)]
                )
            rows[side] = cells
        same = open(osp.join(work, "builtin", "mnist_test.csv"), "rb").read() == open(
            osp.join(work, "ours", "mnist_test.csv"), "rb"
        ).read()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"mnist_csv, real MNIST digits, best of {args.repeat} (python {sys.version.split()[0]}, ours: {ours.__file__})")
    print(f"{'case':<16}{'built-in':>12}{'ours':>12}{'speed-up':>10}")
    for case in rows["ours"]:
        b, o = rows["built-in"][case], rows["ours"][case]
        print(f"{case:<16}{b * 1000:>10.0f}ms{o * 1000:>10.0f}ms{b / o:>9.1f}x")
    print(f"exported files byte-identical: {same}")


if __name__ == "__main__":
    main()
