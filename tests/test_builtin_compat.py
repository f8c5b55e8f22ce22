"""Datumaro's own MNIST unit tests (tests/unit/test_mnist_format.py in Datumaro 1.13), run against ours.

The built-in's test file is not shipped with the wheel, so these are faithful ports of its cases: the
same datasets, the same calls (``MnistExporter.convert`` then ``Dataset.import_from(..., "mnist")``),
the same expectations. They pin down everything the built-in does right.
"""

import os.path as osp

import numpy as np
import pytest

from datumaro.components.annotation import AnnotationType, Label, LabelCategories
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.environment import Environment
from datumaro.components.media import Image
from datumaro.plugins.data_formats.mnist import MnistExporter as BuiltinMnistExporter

from datumaro_mnist_plugins.mnist import MnistExporter, MnistImporter

from .conftest import assert_same_items

DIGITS = {AnnotationType.label: LabelCategories.from_iterable(str(label) for label in range(10))}


def round_trip(dataset, path, exporter=MnistExporter, **options):
    exporter.convert(dataset, str(path), **options)
    return Dataset.import_from(str(path), "mnist")


def test_can_save_and_load(tmp_path):
    source = Dataset.from_iterable(
        [
            DatasetItem(id=0, subset="test", media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(0)]),
            DatasetItem(id=1, subset="test", media=Image.from_numpy(data=np.ones((28, 28)))),
            DatasetItem(id=2, subset="test", media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(1)]),
        ],
        categories=DIGITS,
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=True))


def test_can_save_and_load_without_saving_images(tmp_path):
    source = Dataset.from_iterable(
        [
            DatasetItem(id=0, subset="train", annotations=[Label(0)]),
            DatasetItem(id=1, subset="train", annotations=[Label(1)]),
        ],
        categories=DIGITS,
    )
    parsed = round_trip(source, tmp_path, save_media=False)
    assert_same_items(source, parsed)
    assert not osp.exists(tmp_path / "train-images-idx3-ubyte.gz")


def test_can_save_and_load_with_different_image_size(tmp_path):
    source = Dataset.from_iterable(
        [
            DatasetItem(id=0, media=Image.from_numpy(data=np.ones((3, 4))), annotations=[Label(0)]),
            DatasetItem(id=1, media=Image.from_numpy(data=np.ones((2, 2))), annotations=[Label(1)]),
        ],
        categories=DIGITS,
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=True))


def test_can_save_and_load_dataset_with_cyrillic_and_spaces_in_filename(tmp_path):
    source = Dataset.from_iterable(
        [DatasetItem(id="кириллица с пробелом", media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(0)])],
        categories=DIGITS,
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=True))


def test_can_save_and_load_image_with_arbitrary_extension(tmp_path):
    source = Dataset.from_iterable(
        [
            DatasetItem(id="q/1", media=Image.from_numpy(data=np.zeros((28, 28)), ext=".JPEG")),
            DatasetItem(id="a/b/c/2", media=Image.from_numpy(data=np.zeros((28, 28)), ext=".bmp")),
        ],
        categories=DIGITS,
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=True))


def test_can_save_and_load_with_other_labels(tmp_path):
    source = Dataset.from_iterable(
        [
            DatasetItem(id=0, media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(0)]),
            DatasetItem(id=1, media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(1)]),
        ],
        categories={AnnotationType.label: LabelCategories.from_iterable("label_%s" % label for label in range(2))},
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=True))


def test_can_save_and_load_with_meta_file(tmp_path):
    source = Dataset.from_iterable(
        [
            DatasetItem(id=0, media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(0)]),
            DatasetItem(id=1, media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(1)]),
        ],
        categories={AnnotationType.label: LabelCategories.from_iterable("label_%s" % label for label in range(2))},
    )
    parsed = round_trip(source, tmp_path, save_media=True, save_dataset_meta=True)
    assert osp.isfile(tmp_path / "dataset_meta.json")
    assert_same_items(source, parsed)


@pytest.fixture
def builtin_written_dataset(tmp_path):
    """The built-in importer's own test asset, re-created with the built-in exporter itself."""
    expected = Dataset.from_iterable(
        [
            DatasetItem(id=0, subset="test", media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(0)]),
            DatasetItem(id=1, subset="test", media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(2)]),
            DatasetItem(id=2, subset="test", media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(1)]),
            DatasetItem(id=0, subset="train", media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(5)]),
            DatasetItem(id=1, subset="train", media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(7)]),
        ],
        categories=DIGITS,
    )
    BuiltinMnistExporter.convert(expected, str(tmp_path), save_media=True)
    return expected, str(tmp_path)


def test_can_import(builtin_written_dataset):
    expected, path = builtin_written_dataset
    assert_same_items(expected, Dataset.import_from(path, "mnist"))


def test_can_detect(builtin_written_dataset):
    _, path = builtin_written_dataset
    assert Environment().detect_dataset(path) == [MnistImporter.NAME]


@pytest.mark.parametrize(
    "items",
    [
        # other ids only
        [DatasetItem(id="a", annotations=[Label(3)]), DatasetItem(id="b", annotations=[Label(4)])],
        # other sizes only
        [
            DatasetItem(id=0, media=Image.from_numpy(data=np.full((5, 7), 9)), annotations=[Label(0)]),
            DatasetItem(id=1, media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(1)]),
        ],
        # other ids and sizes
        [
            DatasetItem(id="x", media=Image.from_numpy(data=np.full((5, 7), 9)), annotations=[Label(0)]),
            DatasetItem(id="y", media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(1)]),
        ],
    ],
    ids=["ids", "sizes", "ids-and-sizes"],
)
def test_datasets_written_by_the_builtin_with_a_sidecar_open_unchanged(tmp_path, items):
    source = Dataset.from_iterable(items, categories=DIGITS)
    assert_same_items(source, round_trip(source, tmp_path, exporter=BuiltinMnistExporter, save_media=True))
