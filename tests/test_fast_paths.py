"""The shortcuts that make imports and exports fast give exactly what the slow paths give.

No timings here: they are in benchmarks/run.py.
"""

from __future__ import annotations

import gc
import gzip
import io
import os
import os.path as osp
import threading
import zlib

import attr
import numpy as np
import pytest

from datumaro.components.annotation import AnnotationType, Annotations, Label
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatasetImportError
from datumaro.components.media import Image, ImageFromNumpy
from datumaro.components.merge.exact_merge import ExactMerge

from datumaro_mnist_plugins import items

from datumaro_mnist_plugins.codecs import gzip_blocks, idx
from datumaro_mnist_plugins.mnist import MnistBase


def fields(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in attr.fields(type(obj))}


# --- items built without the constructors' per-field checks -------------------------------------------


@pytest.mark.parametrize("item_id", ["0", "12345", "a/b/c", "train_7", "ünïcode id", "x.y", ". hidden", "٣²"])
def test_fast_items_equal_the_constructors(item_id):
    image = Image.from_numpy(data=np.arange(784, dtype=np.uint8).reshape(28, 28))
    item = items.make_item(item_id, "train", 7, image, {"k": 1}, {"writer": 3})
    expected = DatasetItem(id=item_id, subset="train", media=image, annotations=[Label(7, attributes={"writer": 3})],
                           attributes={"k": 1})
    assert item == expected and fields(item) == fields(expected)
    assert type(item.annotations) is Annotations and type(expected.annotations) is Annotations
    assert type(item.annotations[0]) is Label and fields(item.annotations[0]) == fields(expected.annotations[0])
    assert fields(items.make_item(item_id, "train", None, None, {}, {})) == fields(DatasetItem(id=item_id, subset="train"))
    item.id = "renamed"  # still a normal attrs object: assignment converts and validates as usual
    with pytest.raises(ValueError):
        item.id = "../escape"


@pytest.mark.parametrize("item_id", ["a\\b", "", "..", "a/../b", "/abs", "C:x", "\\\\unc"])
def test_ids_the_checks_would_change_or_refuse_go_through_the_constructor(item_id):
    try:
        expected = DatasetItem(id=item_id, subset="train")
    except (ValueError, AssertionError) as e:  # Datumaro refuses an empty id with an assert
        with pytest.raises(type(e)):
            items.make_item(item_id, "train", None, None, {}, {})
    else:
        assert fields(items.make_item(item_id, "train", None, None, {}, {})) == fields(expected)


def test_subset_and_label_values_the_constructors_convert():
    assert items.make_item("0", None, None, None, {}, {}).subset == DatasetItem(id="0").subset
    assert items.make_item("0", "a\\b", None, None, {}, {}).subset == "a/b"
    (label,) = items.make_item("0", "a", np.int64(3), None, {}, {}).annotations  # a numpy int becomes an int
    assert fields(label) == fields(Label(3)) and type(label.label) is int


def test_an_unknown_layout_falls_back_to_the_constructors(monkeypatch):
    monkeypatch.setattr(items, "_ITEM_FAST", False)
    monkeypatch.setattr(items, "_IMAGE_DTYPE", None)
    item = items.make_item("5", "test", 1, items.new_image(np.zeros((2, 3), np.uint8)), {}, {})
    expected = DatasetItem(id="5", subset="test", media=Image.from_numpy(data=np.zeros((2, 3), np.uint8)),
                           annotations=[Label(1)])
    assert fields(item) == fields(expected) and vars(item.media).keys() == vars(expected.media).keys()


@pytest.mark.parametrize("shape", [(28, 28), (5, 7), (2, 3, 3)])
def test_fast_images_equal_from_numpy(shape):
    data = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    image, expected = items.new_image(data), Image.from_numpy(data=data)
    assert type(image) is ImageFromNumpy and image == expected
    assert list(vars(image).items()) == list(vars(expected).items())  # same attributes, values and order
    assert image.data is data and image.size == expected.size == shape[:2]
    assert list(vars(image).items()) == list(vars(expected).items())  # after the lazy size, too


def test_a_non_array_image_goes_through_from_numpy():
    loader = lambda: np.ones((2, 2), np.uint8)  # noqa: E731  a lazy loader, as Datumaro allows
    image = items.new_image(loader)
    assert vars(image) == vars(Image.from_numpy(data=loader)) and image.data.shape == (2, 2)


# --- items built a batch at a time, the garbage collector paused ---------------------------------------


def test_batches_give_every_item_in_order_and_skip_none():
    made = list(items.built_in_batches(lambda i: None if i % 3 == 0 else i, range(2 * items._BATCH + 5)))
    assert made == [i for i in range(2 * items._BATCH + 5) if i % 3]


@pytest.mark.parametrize("enabled", [True, False])
def test_batches_leave_the_garbage_collector_as_they_found_it(enabled):
    seen = []
    try:
        (gc.enable if enabled else gc.disable)()
        for _ in items.built_in_batches(lambda i: seen.append(gc.isenabled()) or i, range(items._BATCH + 1)):
            assert gc.isenabled() == enabled  # the caller's code always runs with the caller's setting
    finally:
        gc.enable()
    assert seen and not any(seen)  # the items themselves were built with it paused


def test_a_failure_mid_batch_comes_after_the_items_built_before_it():
    def build(index):
        if index == 7:
            raise DatasetImportError("row 7 is bad")
        return index

    built = items.built_in_batches(build, range(20))
    assert [next(built) for _ in range(7)] == list(range(7))
    assert gc.isenabled()
    with pytest.raises(DatasetImportError, match="row 7"):
        next(built)


# --- subsets read side by side instead of merged -------------------------------------------------------


def write_two_subsets(folder, names=None):
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 5), ("t10k", 3)):
        idx.write_idx(osp.join(folder, f"{prefix}-images-idx3-ubyte.gz"), rng.integers(0, 256, (count, 4, 4), dtype=np.uint8))
        idx.write_idx(osp.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), (np.arange(count) % 10).astype(np.uint8))
    if names:
        with open(osp.join(folder, "labels.txt"), "w") as f:
            f.write("\n".join(names))


def test_subsets_side_by_side_give_the_items_of_an_exact_merge(tmp_path):
    write_two_subsets(str(tmp_path))
    sources = [MnistBase(str(tmp_path / f"{p}-labels-idx1-ubyte.gz")) for p in ("train", "t10k")]
    merged = items.subsets_side_by_side(sources)
    assert isinstance(merged, items._SideBySide)
    assert AnnotationType.label in merged.ann_types()  # Datumaro's ExtractorMerger drops them
    assert len(merged) == 8
    assert sorted(map(fields, merged), key=repr) == sorted(map(fields, ExactMerge()(*sources)), key=repr)

    dataset = Dataset.import_from(str(tmp_path), "mnist")
    assert len(dataset) == 8 and set(dataset.subsets()) == {"train", "test"}
    assert AnnotationType.label in dataset.ann_types()


def test_sources_that_need_a_real_merge_get_datumaros(tmp_path):
    write_two_subsets(str(tmp_path))
    train = MnistBase(str(tmp_path / "train-labels-idx1-ubyte.gz"))
    twice = items.subsets_side_by_side([train, MnistBase(str(tmp_path / "train-labels-idx1-ubyte.gz"))])
    assert not isinstance(twice, items._SideBySide) and len(twice) == 5  # same (id, subset): merged


# --- gzip written in blocks on every core --------------------------------------------------------------


def gz_bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


@pytest.mark.parametrize("level", [0, 1, 6, 9])
@pytest.mark.parametrize("size_in_blocks", [0, 0.5, 1, 2.25])
def test_block_gzip_round_trips_and_small_files_match_gzipfile(tmp_path, level, size_in_blocks):
    size = int(gzip_blocks.GZIP_BLOCK * size_in_blocks) + (7 if size_in_blocks else 0)
    data = (np.random.default_rng(size).integers(0, 4, size) * 60).astype(np.uint8).tobytes()
    path = str(tmp_path / "t10k-images-idx3-ubyte.gz")
    with idx.open_binary(path, "wb", level) as f:
        start, step = 0, 1
        while start < len(data):  # uneven writes, across block boundaries
            f.write(data[start : start + step])
            start, step = start + step, step * 5 + 3
    raw = gz_bytes(path)
    assert gzip.decompress(raw) == data and zlib.decompress(raw, 31) == data
    with gzip.open(path, "rb") as f:
        assert f.read() == data
    if size < gzip_blocks.GZIP_BLOCK:
        expected = io.BytesIO()
        with gzip.GzipFile(path, "wb", compresslevel=level, mtime=0, fileobj=expected) as g:
            g.write(data)
        assert raw == expected.getvalue()


def test_block_gzip_bytes_do_not_depend_on_the_number_of_threads(tmp_path, monkeypatch):
    array = np.resize(np.arange(251, dtype=np.uint8), (3 * gzip_blocks.GZIP_BLOCK // 784 + 5, 28, 28))
    outputs = []
    for cores in (1, 2, 5):
        monkeypatch.setattr(os, "cpu_count", lambda: cores)
        path = str(tmp_path / f"{cores}-images-idx3-ubyte.gz")
        idx.write_idx(path, array)
        outputs.append(gz_bytes(path)[30:])  # after the header, which holds the file name
        assert np.array_equal(idx.read_idx(path), array)
    assert outputs[0] == outputs[1] == outputs[2]


def test_a_failed_block_gzip_write_leaves_no_threads(tmp_path):
    before = threading.active_count()
    with pytest.raises(RuntimeError):
        with idx.open_binary(str(tmp_path / "x.gz"), "wb") as f:
            f.write(bytes(3 * gzip_blocks.GZIP_BLOCK))
            raise RuntimeError("disk full")
    assert threading.active_count() == before
