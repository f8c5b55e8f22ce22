"""Regenerate the tiny samples in ``assets/samples/`` (deterministic: same bytes every run).

    python assets/make_samples.py [--qmnist ../shared/data/qmnist/qmnist-test-labels-idx2-int.gz]

Every sample is made from the 100 real digits in ``assets/mnist-sample`` (the first 100 digits of the
MNIST test set), laid out in the file names and folders of one member of the MNIST family, so every
example in the README and ``docs/`` runs from a clone. QMNIST's extended labels are the real rows 0..99 of
QMNIST's ``qmnist-test-labels-idx2-int.gz`` (its first 10,000 test rows are the MNIST test set, in order),
read from ``--qmnist`` or, when that is absent, from the sample made before.
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import shutil
from typing import Callable, Dict

import numpy as np
from PIL import Image

from datumaro_mnist_plugins.codecs import idx
from datumaro_mnist_plugins.family import FASHION, KMNIST, KMNIST_CLASSMAP

HERE = osp.dirname(osp.abspath(__file__))
SAMPLE = osp.join(HERE, "mnist-sample")
OUT = osp.join(HERE, "samples")
QMNIST_SHARED = osp.normpath(osp.join(HERE, "..", "..", "shared", "data", "qmnist", "qmnist-test-labels-idx2-int.gz"))
QMNIST_LABELS = "qmnist/qmnist-test-labels-idx2-int.gz"
#: The family layouts use the first FEW digits (a few KB each); QMNIST keeps all 100 with their real rows.
FEW = 20


def write(relpath: str, array: np.ndarray) -> None:
    path = osp.join(OUT, relpath)
    os.makedirs(osp.dirname(path), exist_ok=True)
    idx.write_idx(path, array, compress_level=9)


def write_text(relpath: str, text: str) -> None:
    path = osp.join(OUT, relpath)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def mnist_pair(folder: str, images: np.ndarray, labels: np.ndarray, subset: str = "t10k", ext: str = ".gz") -> None:
    write(f"{folder}/{subset}-images-idx3-ubyte{ext}", images)
    write(f"{folder}/{subset}-labels-idx1-ubyte{ext}", labels)


def emnist(images: np.ndarray, labels: np.ndarray, _qmnist: np.ndarray) -> None:
    """EMNIST's ``gzip/`` folder, splits ``digits`` and ``mnist``: images stored transposed, a mapping file each."""
    for split in ("digits", "mnist"):
        write(f"emnist/gzip/emnist-{split}-test-images-idx3-ubyte.gz", images[:FEW].transpose(0, 2, 1))
        write(f"emnist/gzip/emnist-{split}-test-labels-idx1-ubyte.gz", labels[:FEW])
        write_text(f"emnist/gzip/emnist-{split}-mapping.txt", "".join(f"{d} {48 + d}\n" for d in range(10)))


def qmnist(images: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> None:
    """QMNIST's test files, with the real extended label rows of these 100 digits."""
    assert (rows[:, 0] == labels).all(), "the QMNIST rows are not these digits' (their classes differ)"
    write("qmnist/qmnist-test-images-idx3-ubyte.gz", images)
    write("qmnist/qmnist-test-labels-idx1-ubyte.gz", labels)
    write(QMNIST_LABELS, rows)


def fashion_kmnist(images: np.ndarray, labels: np.ndarray, _qmnist: np.ndarray) -> None:
    """Zalando's ``data/fashion`` (class names from the folder name) and KMNIST with its class map."""
    mnist_pair("fashion", images[:FEW], labels[:FEW])
    mnist_pair("kmnist", images[:FEW], labels[:FEW])
    rows = "".join(f"{i},U+{ord(c):04X},{c}\n" for i, c in enumerate(KMNIST))
    write_text(f"kmnist/{KMNIST_CLASSMAP}", "index,codepoint,char\n" + rows)


def torchvision(images: np.ndarray, labels: np.ndarray, _qmnist: np.ndarray) -> None:
    """torchvision's download folders ``root/<Name>/raw/``, raw (uncompressed) IDX files as it extracts them."""
    for name in ("MNIST", "FashionMNIST"):
        mnist_pair(f"torchvision/{name}/raw", images[:FEW], labels[:FEW], ext="")


def image_folder(images: np.ndarray, labels: np.ndarray, _qmnist: np.ndarray) -> None:
    """A folder of PNG files, one subfolder per class (what ``imagenet`` and ``image_dir`` read): the first
    two digits of each class, so every class is there."""
    for i in np.concatenate([np.flatnonzero(labels == digit)[:2] for digit in range(10)]):
        path = osp.join(OUT, "digit-folder", str(labels[i]), f"{i}.png")
        os.makedirs(osp.dirname(path), exist_ok=True)
        Image.fromarray(images[i]).save(path, optimize=True)


SAMPLES: Dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], None]] = {
    "emnist": emnist,
    "qmnist": qmnist,
    "fashion+kmnist": fashion_kmnist,
    "torchvision": torchvision,
    "digit-folder": image_folder,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qmnist", default=QMNIST_SHARED, help="QMNIST's real qmnist-test-labels-idx2-int.gz")
    args = parser.parse_args()
    source = args.qmnist if osp.isfile(args.qmnist) else osp.join(OUT, QMNIST_LABELS)
    images = np.array(idx.read_idx(osp.join(SAMPLE, "t10k-images-idx3-ubyte.gz")))
    labels = np.array(idx.read_idx(osp.join(SAMPLE, "t10k-labels-idx1-ubyte.gz")))
    rows = np.array(idx.read_idx(source)[: len(labels)])
    shutil.rmtree(OUT, ignore_errors=True)
    for name, make in SAMPLES.items():
        make(images, labels, rows)
        print(f"{name}: written")
    print(f"QMNIST rows from {source}")


if __name__ == "__main__":
    main()
