"""Shared fixtures: the real digits in ../shared/data (skipped when absent) and small helpers."""

from __future__ import annotations

import gzip
import os
import os.path as osp
import shutil
import subprocess
import sys
import tracemalloc
from typing import List

import numpy as np
import pytest
from datumaro.components.annotation import AnnotationType, LabelCategories
from hypothesis import HealthCheck

from datumaro_mnist_plugins.codecs import idx

SHARED_DATA = osp.normpath(osp.join(osp.dirname(__file__), "..", "..", "shared", "data"))
MNIST_DEV = osp.join(SHARED_DATA, "mnist-dev")
#: Hypothesis settings of the property tests: no deadline (a shared machine), no example database.
SETTINGS = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="session")
def shared_data() -> str:
    """The real-data folder; tests that need it skip when a user's clone doesn't have it."""
    if not osp.isfile(osp.join(MNIST_DEV, "t10k-images-idx3-ubyte.gz")):
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def real_test_digits(shared_data, tmp_path_factory) -> str:
    """A folder with only the 5,000 real test digits and their labels (no labels-only train subset)."""
    folder = tmp_path_factory.mktemp("real-test")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(osp.join(shared_data, "mnist-dev", name), folder / name)
    return str(folder)


def datum_command() -> List[str]:
    """The installed `datum` CLI of this interpreter's environment."""
    exe = osp.join(osp.dirname(sys.executable), "datum")
    return [exe] if osp.exists(exe) else [sys.executable, "-m", "datumaro"]


def run_datum(*args: str, cwd=None, env=None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        datum_command() + list(args), capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"datum {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def items_by_key(dataset):
    return {(item.subset, item.id): item for item in dataset}


def assert_same_items(expected, actual, *, require_media: bool = True) -> None:
    """Item-by-item comparison: ids, subsets, labels, and pixel values (any dtype, same values)."""
    left, right = items_by_key(expected), items_by_key(actual)
    assert sorted(left) == sorted(right)
    for key, a in left.items():
        b = right[key]
        labels_a = [ann.label for ann in a.annotations]
        labels_b = [ann.label for ann in b.annotations]
        assert labels_a == labels_b, key
        if require_media:
            assert (a.media is None) == (b.media is None), key
            if a.media is not None:
                assert np.array_equal(np.asarray(a.media.data), np.asarray(b.media.data)), key
    names = lambda d: [c.name for c in d.categories()[next(iter(d.categories()))]] if d.categories() else []  # noqa: E731
    assert names(expected) == names(actual)


def error_text(error: BaseException) -> str:
    """The messages of an error and its causes: Datumaro wraps importer errors in a generic one."""
    parts = []
    while error is not None and len(parts) < 10:
        parts.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


DIGIT_CATEGORIES = tuple("0123456789")
#: The digit classes as a dataset's categories (every test module used to build its own copy).
DIGITS = {AnnotationType.label: LabelCategories.from_iterable(DIGIT_CATEGORIES)}


def digits_dataset(count=3, subsets=("train", "test"), size=(28, 28), seed=0):
    """A small dataset of random 28x28 (or *size*) uint8 images with digit labels."""
    from datumaro.components.annotation import AnnotationType, Label, LabelCategories
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image

    rng = np.random.default_rng(seed)
    return Dataset.from_iterable(
        [
            DatasetItem(
                id=str(i),
                subset=subset,
                media=Image.from_numpy(data=rng.integers(0, 256, size, dtype=np.uint8)),
                annotations=[Label(int(rng.integers(0, 10)))],
            )
            for subset in subsets
            for i in range(count)
        ],
        categories={AnnotationType.label: LabelCategories.from_iterable(DIGIT_CATEGORIES)},
    )


def collecting_policy():
    """An import error policy that skips what it is told about and keeps the errors (``.errors``)."""
    from datumaro.components.contexts.importer import ImportErrorPolicy

    class Collect(ImportErrorPolicy):
        def __init__(self):
            self.errors = []

        def _handle_item_error(self, error):
            self.errors.append(error)

        def _handle_annotation_error(self, error):
            self.errors.append(error)

    return Collect()


def write_mnist_sidecar(folder, rows, chars=32):
    """``train-meta.gz`` in the built-in's layout: rows of *chars*-character UTF-32 cells."""
    with gzip.GzipFile(osp.join(folder, "train-meta.gz"), "wb") as f:
        f.write(np.array(rows, dtype=f"<U{chars}").tobytes())


def traced_peak(function):
    """(result or raised error, traced allocation peak in bytes) of calling *function*."""
    tracemalloc.start()
    try:
        try:
            result = function()
        except Exception as e:  # noqa: BLE001
            result = e
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def decompressed(path) -> bytes:
    """The bytes of an IDX file, decompressed by its suffix."""
    with idx.open_binary(str(path)) as f:
        return f.read()


def label_names(dataset):
    return [c.name for c in dataset.categories()[AnnotationType.label]]


def leftovers(parent, keep=("out",)):
    """What is in *parent* besides *keep*: an export's staging or journal left behind."""
    return sorted(set(os.listdir(parent)) - set(keep))
