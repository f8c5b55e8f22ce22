"""What a newcomer runs first: the samples in assets/, the generator's defaults, exports of class-less data."""

from __future__ import annotations

import filecmp
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.media import Image

from datumaro_mnist_plugins.codecs import idx
from datumaro_mnist_plugins.mnist_synthetic import MnistSyntheticGenerator

from .conftest import SHARED_DATA, run_datum

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SAMPLES = osp.join(REPO, "assets", "samples")
QMNIST_ROWS = osp.join(SHARED_DATA, "qmnist", "qmnist-test-labels-idx2-int.gz")


def tree(folder: str):
    return sorted(osp.relpath(osp.join(d, f), folder) for d, _, files in os.walk(folder) for f in files)


def test_make_samples_regenerates_the_shipped_samples_byte_for_byte(tmp_path):
    shutil.copytree(osp.join(REPO, "assets"), tmp_path / "assets", ignore=shutil.ignore_patterns("samples"))
    shutil.copytree(osp.join(SAMPLES, "qmnist"), tmp_path / "assets" / "samples" / "qmnist")  # its rows, if no shared data
    subprocess.run([sys.executable, str(tmp_path / "assets" / "make_samples.py")], check=True, capture_output=True)
    made = str(tmp_path / "assets" / "samples")
    assert tree(made) == tree(SAMPLES)
    _, mismatch, errors = filecmp.cmpfiles(made, SAMPLES, tree(SAMPLES), shallow=False)
    assert not mismatch and not errors


def test_qmnist_sample_holds_the_real_rows_of_these_digits():
    if not osp.isfile(QMNIST_ROWS):
        pytest.skip("../shared/data is absent")
    rows = idx.read_idx(osp.join(SAMPLES, "qmnist", "qmnist-test-labels-idx2-int.gz"))
    assert rows.shape == (100, 8)
    np.testing.assert_array_equal(rows, idx.read_idx(QMNIST_ROWS)[:100])
    mnist_labels = idx.read_idx(osp.join(REPO, "assets", "mnist-sample", "t10k-labels-idx1-ubyte.gz"))
    np.testing.assert_array_equal(rows[:, 0], mnist_labels)


@pytest.mark.parametrize(
    "path, options, transposed",
    [("emnist/gzip", {"split": "digits"}, True), ("kmnist", {}, False), ("torchvision/MNIST/raw", {}, False)],
)
def test_samples_hold_the_real_digits_upright(path, options, transposed):
    """Every layout reads back as the same real digits (EMNIST's stored transposed, as EMNIST stores them)."""
    real = idx.read_idx(osp.join(REPO, "assets", "mnist-sample", "t10k-images-idx3-ubyte.gz"))
    dataset = Dataset.import_from(osp.join(SAMPLES, path), "mnist", **options)
    for item in dataset:
        np.testing.assert_array_equal(item.media.data, real[int(item.id)])
    stored = next(f for f in os.listdir(osp.join(SAMPLES, path)) if "images-idx3" in f)
    first = idx.read_idx(osp.join(SAMPLES, path, stored))[0]
    assert np.array_equal(first, real[0].T if transposed else real[0])


def test_generator_shape_defaults_to_mnist_size(tmp_path):
    MnistSyntheticGenerator.generate(str(tmp_path / "default"), 6, seed=2)
    MnistSyntheticGenerator.generate(str(tmp_path / "explicit"), 6, (28, 28), seed=2)
    MnistSyntheticGenerator.generate(str(tmp_path / "small"), 6, shape=(20, 20), seed=2)
    name = "train-images-idx3-ubyte.gz"
    assert idx.read_idx(str(tmp_path / "default" / name)).shape == (6, 28, 28)
    assert filecmp.cmp(tmp_path / "default" / name, tmp_path / "explicit" / name, shallow=False)
    assert idx.read_idx(str(tmp_path / "small" / name)).shape == (6, 20, 20)


@pytest.mark.parametrize("fmt", ["mnist", "mnist_csv"])
def test_dataset_without_label_categories_exports_its_meta_file(fmt, tmp_path):
    """An image folder has no classes; --save-dataset-meta writes an empty class list instead of crashing."""
    pixels = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4)
    dataset = Dataset.from_iterable(
        [DatasetItem(id=str(i), subset="test", media=Image.from_numpy(pixels[i])) for i in range(3)]
    )
    assert AnnotationType.label not in dataset.categories()
    dataset.export(str(tmp_path), fmt, save_media=True, save_dataset_meta=True)
    with open(tmp_path / "dataset_meta.json", encoding="utf-8") as f:
        assert json.load(f)["labels"] == []
    back = Dataset.import_from(str(tmp_path), fmt)
    assert sorted((item.id, item.annotations == []) for item in back) == [("0", True), ("1", True), ("2", True)]
    for item in back:
        np.testing.assert_array_equal(item.media.data, pixels[int(item.id)])


def test_image_dir_to_mnist_with_dataset_meta_on_the_cli(tmp_path):
    folder = tmp_path / "images"
    shutil.copytree(osp.join(SAMPLES, "digit-folder", "7"), folder)
    run_datum("convert", "-if", "image_dir", "-i", str(folder), "-f", "mnist", "-o", str(tmp_path / "out"),
              "--", "--save-media", "--save-dataset-meta")
    back = Dataset.import_from(str(tmp_path / "out"), "mnist")
    assert len(back) == 2 and all(item.media.data.shape[:2] == (28, 28) for item in back)


def test_csv_quick_with_a_missing_data_folder_is_a_usage_error(tmp_path):
    result = subprocess.run(
        [sys.executable, osp.join(REPO, "benchmarks", "csv_quick.py"), "--data", str(tmp_path / "nowhere")],
        capture_output=True, text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "nowhere" in result.stderr and "t10k-images-idx3-ubyte.gz" in result.stderr
