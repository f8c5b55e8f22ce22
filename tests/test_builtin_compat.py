"""Datumaro's own MNIST unit tests (tests/unit/test_mnist_format.py and test_mnist_csv_format.py in
Datumaro 1.13), run against ours, for both formats.

The built-in's test files are not shipped with the wheel, so these are faithful ports of their cases:
the same datasets, the same calls (``Exporter.convert`` then ``Dataset.import_from``), the same
expectations. They pin down everything the built-ins do right; the two built-in files test the same
cases, so here one test serves both formats.
"""

import os.path as osp
from typing import NamedTuple

import numpy as np
import pytest

from datumaro.components.annotation import AnnotationType, Label, LabelCategories
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.environment import Environment
from datumaro.components.media import Image
from datumaro.plugins.data_formats.mnist import MnistExporter as BuiltinMnistExporter
from datumaro.plugins.data_formats.mnist_csv import MnistCsvExporter as BuiltinMnistCsvExporter

from datumaro_mnist_plugins.mnist import MnistExporter
from datumaro_mnist_plugins.mnist_csv import MnistCsvExporter

from .conftest import DIGITS, assert_same_items



class Format(NamedTuple):
    name: str
    ours: type
    builtin: type


FORMATS = [Format("mnist", MnistExporter, BuiltinMnistExporter), Format("mnist_csv", MnistCsvExporter, BuiltinMnistCsvExporter)]


@pytest.fixture(params=FORMATS, ids=[f.name for f in FORMATS])
def fmt(request) -> Format:
    return request.param


@pytest.fixture
def round_trip(fmt):
    def convert_and_import(dataset, path, exporter=None, **options):
        (exporter or fmt.ours).convert(dataset, str(path), **options)
        return Dataset.import_from(str(path), fmt.name)

    return convert_and_import


def test_can_save_and_load(tmp_path, round_trip):
    source = Dataset.from_iterable(
        [
            DatasetItem(id=0, subset="test", media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(0)]),
            DatasetItem(id=1, subset="test", media=Image.from_numpy(data=np.ones((28, 28)))),
            DatasetItem(id=2, subset="test", media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(1)]),
        ],
        categories=DIGITS,
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=True))


def test_can_save_and_load_without_saving_images(tmp_path, round_trip):
    source = Dataset.from_iterable(
        [
            DatasetItem(id=0, subset="train", annotations=[Label(0)]),
            DatasetItem(id=1, subset="train", annotations=[Label(1)]),
        ],
        categories=DIGITS,
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=False))


def test_can_save_and_load_with_different_image_size(tmp_path, round_trip):
    source = Dataset.from_iterable(
        [
            DatasetItem(id=0, media=Image.from_numpy(data=np.ones((3, 4))), annotations=[Label(0)]),
            DatasetItem(id=1, media=Image.from_numpy(data=np.ones((2, 2))), annotations=[Label(1)]),
        ],
        categories=DIGITS,
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=True))


def test_can_save_and_load_dataset_with_cyrillic_and_spaces_in_filename(tmp_path, round_trip):
    source = Dataset.from_iterable(
        [DatasetItem(id="кириллица с пробелом", media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(0)])],
        categories=DIGITS,
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=True))


def test_can_save_and_load_image_with_arbitrary_extension(tmp_path, round_trip):
    source = Dataset.from_iterable(
        [
            DatasetItem(id="q/1", media=Image.from_numpy(data=np.zeros((28, 28)), ext=".JPEG")),
            DatasetItem(id="a/b/c/2", media=Image.from_numpy(data=np.zeros((28, 28)), ext=".bmp")),
        ],
        categories=DIGITS,
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=True))


def test_can_save_and_load_with_other_labels(tmp_path, round_trip):
    source = Dataset.from_iterable(
        [
            DatasetItem(id=0, media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(0)]),
            DatasetItem(id=1, media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(1)]),
        ],
        categories={AnnotationType.label: LabelCategories.from_iterable("label_%s" % label for label in range(2))},
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=True))


def test_can_save_and_load_with_meta_file(tmp_path, round_trip):
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
def builtin_written_dataset(tmp_path, fmt):
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
    fmt.builtin.convert(expected, str(tmp_path), save_media=True)
    return expected, str(tmp_path)


def test_can_import(builtin_written_dataset, fmt):
    expected, path = builtin_written_dataset
    assert_same_items(expected, Dataset.import_from(path, fmt.name))


def test_can_detect(builtin_written_dataset, fmt):
    _, path = builtin_written_dataset
    assert Environment().detect_dataset(path) == [fmt.name]


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
def test_datasets_written_by_the_builtin_with_a_sidecar_open_unchanged(tmp_path, items, fmt, round_trip):
    source = Dataset.from_iterable(items, categories=DIGITS)
    assert_same_items(source, round_trip(source, tmp_path, exporter=fmt.builtin, save_media=True))
