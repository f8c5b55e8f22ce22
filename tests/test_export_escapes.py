"""Whatever a dataset holds, exporting it succeeds or is a Datumaro error naming the item or the file.

Images of any dtype and shape, unreadable images, extensions with or without a dot, twins of images
no recipe can draw, contact sheets too large to allocate.
"""

from __future__ import annotations

import os.path as osp
import resource
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from datumaro.components.annotation import AnnotationType, Label, LabelCategories
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatasetExportError, DatumaroError
from datumaro.components.media import Image

from .conftest import DIGIT_CATEGORIES, digits_dataset

FORMATS = ("mnist", "mnist_csv", "mnist_synthetic")
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def dataset_with(*media, subset="train"):
    return Dataset.from_iterable(
        [DatasetItem(id=str(i), subset=subset, media=m, annotations=[Label(i % 10)]) for i, m in enumerate(media)],
        categories={AnnotationType.label: LabelCategories.from_iterable(DIGIT_CATEGORIES)},
    )


def export(dataset, folder, fmt, **options):
    """Exporter.convert: what Dataset.export calls after its own preparations."""
    return dataset.env.exporters[fmt].convert(dataset, save_dir=str(folder), save_media=True, **options)


ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.complex64, np.complex128, np.bool_, np.int8, np.int64, np.uint16, np.float16,
                           np.float64, "U2", "S2", "m8[s]", "M8[s]"]),
    shape=st.sampled_from([(4, 5), (4, 5, 1), (4, 5, 2), (4, 5, 3), (4, 5, 4), (4, 5, 5), (2, 4, 5, 1), (7,), ()]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array=ARRAYS, fmt=st.sampled_from(FORMATS))
def test_any_image_array_exports_or_is_an_error_naming_the_item(tmp_path_factory, array, fmt):
    try:
        dataset = dataset_with(Image.from_numpy(data=array))
    except (ValueError, TypeError):  # Datumaro refuses to hold it: nothing to export
        return
    try:
        export(dataset, tmp_path_factory.mktemp("out"), fmt)
    except DatasetExportError as e:
        assert "item '0'" in str(e) or "dataset" in str(e), e


@pytest.mark.parametrize("fmt", FORMATS)
def test_complex_images_are_an_error_naming_the_item(tmp_path, fmt):
    image = Image.from_numpy(data=np.ones((28, 28), np.complex128))
    with pytest.raises(DatasetExportError, match="item '0'.*complex"):
        export(dataset_with(image), tmp_path / "out", fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unreadable_image_is_an_error_naming_the_item(tmp_path, fmt):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DatasetExportError, match="item '0'.*can't read its image"):
        export(dataset_with(Image.from_file(path=str(tmp_path / "bad.png"))), tmp_path / "out", fmt)
    assert not osp.exists(tmp_path / "out")


@pytest.mark.parametrize("ext", ["png", ".png", "PNG", "bmp"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_an_image_extension_with_or_without_its_dot_is_the_same(tmp_path, fmt, ext):
    export(digits_dataset(2, ("train",)), tmp_path, fmt, image_ext=ext)
    dotted = ext if ext.startswith(".") else "." + ext
    expected = tmp_path / ("preview" + dotted if fmt == "mnist_synthetic" else osp.join("images", "train", "0" + dotted))
    assert expected.is_file()
    assert not list(tmp_path.glob("*preview" + ext.lstrip(".")))


@pytest.mark.parametrize("side", [1, 5, 2000])
def test_a_twin_of_images_no_recipe_draws_is_an_error(tmp_path, side):
    with pytest.raises(DatasetExportError, match="twin.*image_size"):
        export(dataset_with(Image.from_numpy(data=np.zeros((side, side), np.uint8))), tmp_path / "out", "mnist_synthetic")
    assert not osp.exists(tmp_path / "out")


@pytest.mark.parametrize("options", [{"seed": -1}, {"seed": 2**64}])
def test_a_twin_recipe_that_would_not_load_is_refused(tmp_path, options):
    with pytest.raises(DatasetExportError, match="would not load back.*seed"):
        export(digits_dataset(2, ("train",)), tmp_path / "out", "mnist_synthetic", **options)
    assert not osp.exists(tmp_path / "out")


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


@pytest.mark.parametrize("args", [["--scale", "100000"], ["--per-class", "100000000"], ["--scale", "300"]])
def test_preview_refuses_a_sheet_too_large_to_draw(tmp_path, args):
    sample = osp.join(REPO, "assets", "mnist-sample")
    result = subprocess.run(
        [sys.executable, "-m", "datumaro_mnist_plugins", "preview", "-i", sample, "-o", str(tmp_path / "s.png"), *args],
        capture_output=True, text=True, timeout=120, preexec_fn=_limit_memory,
    )
    assert result.returncode == 1 and result.stderr.startswith("error:") and "--scale" in result.stderr, result.stderr
    assert not (tmp_path / "s.png").exists()


def test_preview_sheet_size_bound():
    from datumaro_mnist_plugins.preview import MAX_SHEET_PIXELS, sheet_size

    width, height = sheet_size(28, 2, 10, 10)
    assert width * height <= MAX_SHEET_PIXELS
    with pytest.raises(DatumaroError):
        sheet_size(28, 1000, 10, 10)


def test_a_twin_of_labels_outside_the_categories_is_an_error_naming_the_item(tmp_path):
    dataset = Dataset.from_iterable(
        [DatasetItem(id="x", subset="train", media=Image.from_numpy(data=np.zeros((28, 28), np.uint8)),
                     annotations=[Label(15)])],
        categories={AnnotationType.label: LabelCategories.from_iterable(DIGIT_CATEGORIES)},
    )
    with pytest.raises(DatasetExportError, match="item 'x'.*label 15"):
        export(dataset, tmp_path / "out", "mnist_synthetic")


def test_preview_of_a_dataset_without_label_categories(tmp_path):
    from datumaro_mnist_plugins.preview import collect_samples, contact_sheet

    dataset = Dataset.from_iterable([DatasetItem(id="x", media=Image.from_numpy(data=np.zeros((28, 28), np.uint8)))])
    assert collect_samples(dataset, 3) == {}
    assert contact_sheet({}, [], 3).size[1] > 0
