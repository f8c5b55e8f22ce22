"""Exporting to `mnist_synthetic` writes a recipe: exact for generated items, a twin for real data."""

import os
import os.path as osp

import numpy as np
import pytest
import yaml

import datumaro as dm
from datumaro.components.errors import DatasetExportError

from ..conftest import run_datum

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = osp.join(REPO, "assets", "recipes", "small.yaml")
DEFAULT = osp.join(REPO, "assets", "recipes", "mnist.yaml")


def images(dataset):
    return {(i.subset, i.id): (i.media.data.tobytes(), [a.label for a in i.annotations]) for i in dataset}


def test_a_generated_dataset_exports_to_a_few_lines_that_regenerate_it(tmp_path):
    dm.Dataset.import_from(DEFAULT, "mnist_synthetic").export(str(tmp_path), "mnist_synthetic")
    text = (tmp_path / "recipe.yaml").read_text()
    assert len(text.splitlines()) < 40 and "exact" in text
    again = dm.Dataset.import_from(str(tmp_path), "mnist_synthetic")
    original = dm.Dataset.import_from(DEFAULT, "mnist_synthetic")
    assert len(again) == 70000
    for subset, index in (("train", "0"), ("train", "59999"), ("test", "1234")):
        assert np.array_equal(again.get(index, subset).media.data, original.get(index, subset).media.data)


@pytest.mark.parametrize(
    "xpath, key, value",
    [
        ('/item[annotation/label="3" or annotation/label="8"]', "keep_classes", [3, 8]),  # a class filter
        ('/item[id="3" or id="4" or id="5" or id="77"]', "indices", "3-5,77"),  # any other filter
    ],
)
def test_a_filtered_dataset_round_trips_exactly(tmp_path, xpath, key, value):
    filtered = dm.Dataset.import_from(SMALL, "mnist_synthetic").filter(xpath)
    expected = images(filtered)
    filtered.export(str(tmp_path), "mnist_synthetic")
    recipe = yaml.safe_load((tmp_path / "recipe.yaml").read_text())
    assert recipe["subsets"]["train"][key] == value
    assert images(dm.Dataset.import_from(str(tmp_path), "mnist_synthetic")) == expected


def test_a_twin_of_real_digits_has_their_shape(real_test_digits, tmp_path):
    real = dm.Dataset.import_from(real_test_digits, "mnist")
    run_datum("convert", "-if", "mnist", "-i", real_test_digits, "-f", "mnist_synthetic", "-o", str(tmp_path / "twin"))
    twin = dm.Dataset.import_from(str(tmp_path / "twin"), "mnist_synthetic")
    assert len(twin) == len(real) == 5000 and list(twin.subsets()) == ["test"]
    assert [c.name for c in twin.categories()[dm.AnnotationType.label]] == list("0123456789")
    recipe = yaml.safe_load((tmp_path / "twin" / "recipe.yaml").read_text())
    real_counts = np.bincount([i.annotations[0].label for i in real], minlength=10)
    assert np.allclose(recipe["subsets"]["test"]["proportions"], real_counts / real_counts.sum(), atol=1e-6)
    # The default style is fitted to MNIST: a twin of MNIST digits sees no size, aspect or noise to move.
    style = recipe.get("style", {})
    assert style.get("noise", 0) == 0 and style.get("scale", [1.0, 1.0]) == [1.0, 1.0], style
    run_datum("convert", "-if", "mnist_synthetic", "-i", str(tmp_path / "twin"), "-f", "mnist", "-o", str(tmp_path / "standin"), "--", "--save-media")
    standin = dm.Dataset.import_from(str(tmp_path / "standin"), "mnist")
    assert len(standin) == 5000 and next(iter(standin)).media.data.shape == (28, 28)


def test_a_twin_of_non_digit_classes_is_a_clear_error(tmp_path):
    fashion = dm.Dataset.from_iterable(
        [dm.DatasetItem(id="0", media=dm.Image.from_numpy(data=np.zeros((28, 28), np.uint8)), annotations=[dm.Label(0)])],
        categories=["T-shirt/top", "Trouser"],
    )
    with pytest.raises(DatasetExportError, match="T-shirt/top"):
        fashion.export(str(tmp_path / "out"), "mnist_synthetic")
    assert not osp.exists(tmp_path / "out")


def test_save_media_writes_a_preview_and_image_ext_alone_is_rejected(tmp_path):
    source = dm.Dataset.import_from(SMALL, "mnist_synthetic")
    source.export(str(tmp_path / "a"), "mnist_synthetic", save_media=True, image_ext=".jpg")
    assert sorted(os.listdir(tmp_path / "a")) == ["preview.jpg", "recipe.yaml"]
    with pytest.raises(DatasetExportError, match="--save-media"):
        source.export(str(tmp_path / "b"), "mnist_synthetic", image_ext=".jpg")
