"""Property tests (Hypothesis): whole datasets round-trip arbitrary shapes, dtypes, labels and ids.

The codecs' own properties are in tests/codecs/. Here: whole datasets through the ``mnist`` and
``mnist_csv`` formats, with arbitrary item ids (unicode, long, with separators), labels or none,
images of any size or none, in any pixel dtype whose values fit MNIST's 0..255, and any class names
(blank, padded or multi-line ones too: those are kept by a ``dataset_meta.json`` beside ``labels.txt``).
"""

import os.path as osp
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from datumaro.components.annotation import AnnotationType, Label, LabelCategories
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatumaroError
from datumaro.components.media import Image

from datumaro_mnist_plugins.items import unsafe_id_reason

from .conftest import SETTINGS



# --- whole datasets through mnist and mnist_csv -----------------------------------------------------------------

PIXEL_DTYPES = [np.uint8, np.uint16, np.int32, np.int64, np.float32, np.float64]

# Any id Datumaro accepts: unicode, separators, quotes, commas, control characters, spaces at either end,
# long ones (IDX sidecar cells wider than 32 characters).
item_ids = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda s: unsafe_id_reason(s) is None
)


@st.composite
def datasets(draw):
    count = draw(st.integers(1, 8))
    ids = draw(st.lists(item_ids, min_size=count, max_size=count, unique=True))
    names = draw(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=12, unique=True))
    label_count = len(names)
    items = []
    for item_id in ids:
        subset = draw(st.sampled_from(["train", "test", "val"]))
        label = draw(st.none() | st.integers(0, label_count - 1))
        media = None
        if draw(st.integers(0, 4)):  # mostly with an image
            size = draw(st.tuples(st.integers(1, 7), st.integers(1, 7)))
            values = draw(hnp.arrays(np.uint8, size))
            dtype = draw(st.sampled_from(PIXEL_DTYPES))
            media = Image.from_numpy(data=values.astype(dtype))
        annotations = [] if label is None else [Label(label)]
        items.append(DatasetItem(id=item_id, subset=subset, media=media, annotations=annotations))
    categories = {AnnotationType.label: LabelCategories.from_iterable(names)}
    return Dataset.from_iterable(items, categories=categories)


def as_comparable(dataset):
    """(subset, id) -> (labels, pixels as uint8 or None): what an MNIST file can hold of an item."""
    result = {}
    for item in dataset:
        pixels = None
        if item.media is not None and item.media.has_data:
            pixels = np.asarray(item.media.data).astype(np.uint8)
        result[(item.subset, item.id)] = ([a.label for a in item.annotations], pixels)
    return result


def assert_same(expected, actual):
    left, right = as_comparable(expected), as_comparable(actual)
    assert sorted(left) == sorted(right)
    for key, (labels, pixels) in left.items():
        labels_back, pixels_back = right[key]
        assert labels == labels_back, key
        if pixels is None:
            assert pixels_back is None, key
        else:
            assert pixels_back is not None and np.array_equal(pixels, pixels_back), key
    names = lambda d: [c.name for c in d.categories()[AnnotationType.label]]  # noqa: E731
    assert names(expected) == names(actual)


@pytest.mark.parametrize("fmt", ["mnist", "mnist_csv"])
@settings(max_examples=40, **SETTINGS)
@given(dataset=datasets(), save_dataset_meta=st.booleans())
def test_datasets_round_trip_ids_labels_sizes_and_dtypes(fmt, dataset, save_dataset_meta):
    with tempfile.TemporaryDirectory() as tmp:
        dataset.export(tmp, fmt, save_media=True, save_dataset_meta=save_dataset_meta)
        assert_same(dataset, Dataset.import_from(tmp, fmt))


@pytest.mark.parametrize("fmt", ["mnist", "mnist_csv"])
@settings(max_examples=25, **SETTINGS)
@given(values=hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 4)),
                         elements=st.floats(allow_nan=True, allow_infinity=True, width=64)))
def test_pixels_outside_0_255_are_refused_not_clipped(fmt, values):
    """Any float image exports exactly (rounded) when it fits 0..255, and is a clear error otherwise."""
    dataset = Dataset.from_iterable(
        [DatasetItem(id="x", subset="train", media=Image.from_numpy(data=values), annotations=[Label(0)])],
        categories={AnnotationType.label: LabelCategories.from_iterable(["a"])},
    )
    fits = np.isfinite(values).all() and values.min() >= 0 and values.max() <= 255
    with tempfile.TemporaryDirectory() as tmp:
        out = osp.join(tmp, "out")
        try:
            dataset.export(out, fmt, save_media=True)
        except DatumaroError as e:
            assert not fits and "item 'x'" in str(e)
            assert not osp.exists(out)
        else:
            assert fits
            (item,) = Dataset.import_from(out, fmt)
            assert np.array_equal(item.media.data, np.rint(values).astype(np.uint8))
