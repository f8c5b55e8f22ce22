"""Train on synthetic, test on real (TSTR): how MNIST-like are the synthetic digits?

Trains PCA(50) + RBF-SVC(C=10) on generated digits only (balanced classes, a fixed seed, subset
"train") and tests on the real MNIST test digits in ../shared/data/mnist-dev. Prints the accuracy, the
10x10 confusion matrix (rows: true class, columns: predicted) and the generation rate on one core.

scikit-learn is a benchmark-only dependency (never a runtime one): run this in an environment that has
it, e.g. ``python3 -m venv /tmp/bench && /tmp/bench/bin/pip install numpy pillow scikit-learn pyyaml``
then ``/tmp/bench/bin/python benchmarks/tstr.py``. Datumaro is not needed.
"""

from __future__ import annotations

import argparse
import os.path as osp
import sys
import time
import warnings

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
with warnings.catch_warnings():  # without Datumaro the package's plugin registration only warns
    warnings.simplefilter("ignore", RuntimeWarning)
    from datumaro_mnist_plugins.idx import read_idx
    from datumaro_mnist_plugins.synthetic_digits import DIGIT_CLASSES, DigitStyle, item_rng, render_digit

IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"


def generate(count: int, seed: int, style: DigitStyle) -> tuple[np.ndarray, np.ndarray, float]:
    """``count`` digits of subset "train", classes in turn (balanced); returns images, labels, images/s.

    The rate is per CPU second of this (single-threaded) process, so other work on the machine does not
    skew it much."""
    labels = np.arange(count) % len(DIGIT_CLASSES)
    images = np.empty((count, style.image_size, style.image_size), dtype=np.uint8)
    start = time.process_time()
    for index in range(count):
        images[index] = render_digit(int(labels[index]), item_rng(seed, "train", index), style)
    return images, labels, count / (time.process_time() - start)


def write_sheet(path: str, synthetic: np.ndarray, labels: np.ndarray, real: np.ndarray,
                real_labels: np.ndarray, columns: int = 20) -> None:
    """A contact sheet: per class, a row of synthetic digits then a row of real ones."""
    from PIL import Image

    size = synthetic.shape[1]
    rows = []
    for digit in range(len(DIGIT_CLASSES)):
        for pool, pool_labels in ((synthetic, labels), (real, real_labels)):
            chosen = pool[pool_labels == digit][:columns]
            row = np.zeros((size, columns * size), dtype=np.uint8)
            row[:, : len(chosen) * size] = np.hstack(list(chosen)) if len(chosen) else 0
            rows.append(row)
    Image.fromarray(np.vstack(rows)).resize((columns * size * 3, len(rows) * size * 3), Image.NEAREST).save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="synthetic training digits (default 20000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=osp.normpath(osp.join(REPO, "..", "shared", "data", "mnist-dev")),
                        help="folder with the real t10k-images/labels IDX files (default ../shared/data/mnist-dev)")
    parser.add_argument("--sheet", help="also write a synthetic-vs-real contact sheet PNG here")
    args = parser.parse_args(argv)

    missing = [name for name in (IMAGES, LABELS) if not osp.isfile(osp.join(args.data, name))]
    if missing:
        print(f"error: real digits not found: {', '.join(osp.join(args.data, m) for m in missing)}", file=sys.stderr)
        return 2
    try:
        from sklearn.decomposition import PCA
        from sklearn.metrics import confusion_matrix
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer
        from sklearn.svm import SVC
    except ImportError:
        print("error: scikit-learn is needed for this benchmark (it is not a dependency of the package)", file=sys.stderr)
        return 2

    real = np.asarray(read_idx(osp.join(args.data, IMAGES)))
    real_labels = np.asarray(read_idx(osp.join(args.data, LABELS))).astype(np.int64)
    style = DigitStyle()
    images, labels, rate = generate(args.count, args.seed, style)
    print(f"generated {args.count} digits at {rate:,.0f} images/s (one core, default style)")
    if args.sheet:
        write_sheet(args.sheet, images, labels, real, real_labels)
        print(f"sheet: {args.sheet}")

    flatten = FunctionTransformer(lambda x: x.reshape(len(x), -1).astype(np.float32) / 255.0)
    model = make_pipeline(flatten, PCA(50, random_state=0), SVC(C=10, kernel="rbf"))
    start = time.perf_counter()
    model.fit(images, labels)
    predicted = model.predict(real)
    elapsed = time.perf_counter() - start
    accuracy = float((predicted == real_labels).mean())
    print(f"TSTR accuracy on {len(real)} real digits: {accuracy:.2%} (train+test {elapsed:.0f} s)")
    matrix = confusion_matrix(real_labels, predicted, labels=range(len(DIGIT_CLASSES)))
    print("confusion (rows: true, columns: predicted)")
    print("      " + "".join(f"{c:>6}" for c in DIGIT_CLASSES))
    for digit, row in zip(DIGIT_CLASSES, matrix):
        print(f"{digit:>6}" + "".join(f"{v:>6}" for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
