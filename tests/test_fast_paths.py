"""The shortcuts that make imports and exports fast give exactly what the slow paths give.

No timings here: they are in benchmarks/run.py.
"""

from __future__ import annotations

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
from datumaro.components.media import Image
from datumaro.components.merge.exact_merge import ExactMerge

from datumaro_mnist_plugins import _fast, idx
from datumaro_mnist_plugins.mnist import MnistBase


def fields(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in attr.fields(type(obj))}


# --- items built without the constructors' per-field checks -------------------------------------------


@pytest.mark.parametrize("item_id", ["0", "12345", "a/b/c", "train_7", "ünïcode id", "x.y", ". hidden"])
def test_fast_items_equal_the_constructors(item_id):
    image = Image.from_numpy(data=np.arange(784, dtype=np.uint8).reshape(28, 28))
    label = _fast.new_label(7, {"writer": 3})
    assert type(label) is Label and fields(label) == fields(Label(7, attributes={"writer": 3}))

    item = _fast.new_item(item_id, "train", image, [label], {"k": 1})
    expected = DatasetItem(id=item_id, subset="train", media=image, annotations=[label], attributes={"k": 1})
    assert item == expected and fields(item) == fields(expected)
    assert type(item.annotations) is Annotations and type(expected.annotations) is Annotations
    item.id = "renamed"  # still a normal attrs object: assignment converts and validates as usual
    with pytest.raises(ValueError):
        item.id = "../escape"


@pytest.mark.parametrize("item_id", ["a\\b", "", "..", "a/../b", "/abs", "C:x", "\\\\unc"])
def test_ids_the_checks_would_change_or_refuse_go_through_the_constructor(item_id):
    try:
        expected = DatasetItem(id=item_id, subset="train")
    except (ValueError, AssertionError) as e:  # Datumaro refuses an empty id with an assert
        with pytest.raises(type(e)):
            _fast.new_item(item_id, "train", None, [], {})
    else:
        assert fields(_fast.new_item(item_id, "train", None, [], {})) == fields(expected)


def test_subset_and_label_values_the_constructors_convert():
    assert _fast.new_item("0", None, None, [], {}).subset == DatasetItem(id="0").subset
    assert _fast.new_item("0", "a\\b", None, [], {}).subset == "a/b"
    assert fields(_fast.new_label(np.int64(3), {})) == fields(Label(3))  # not an int: the constructor converts
    assert type(_fast.new_label(np.int64(3), {}).label) is int


def test_an_unknown_layout_falls_back_to_the_constructors(monkeypatch):
    monkeypatch.setattr(_fast, "_ITEM_FAST", False)
    monkeypatch.setattr(_fast, "_LABEL_DEFAULTS", None)
    item = _fast.new_item("5", "test", None, [_fast.new_label(1, {})], {})
    assert fields(item) == fields(DatasetItem(id="5", subset="test", annotations=[Label(1)]))


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
    merged = _fast.subsets_side_by_side(sources)
    assert isinstance(merged, _fast._SideBySide)
    assert AnnotationType.label in merged.ann_types()  # Datumaro's ExtractorMerger drops them
    assert len(merged) == 8
    assert sorted(map(fields, merged), key=repr) == sorted(map(fields, ExactMerge()(*sources)), key=repr)

    dataset = Dataset.import_from(str(tmp_path), "mnist")
    assert len(dataset) == 8 and set(dataset.subsets()) == {"train", "test"}
    assert AnnotationType.label in dataset.ann_types()


def test_sources_that_need_a_real_merge_get_datumaros(tmp_path):
    write_two_subsets(str(tmp_path))
    train = MnistBase(str(tmp_path / "train-labels-idx1-ubyte.gz"))
    twice = _fast.subsets_side_by_side([train, MnistBase(str(tmp_path / "train-labels-idx1-ubyte.gz"))])
    assert not isinstance(twice, _fast._SideBySide) and len(twice) == 5  # same (id, subset): merged


# --- gzip written in blocks on every core --------------------------------------------------------------


def gz_bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


@pytest.mark.parametrize("level", [0, 1, 6, 9])
@pytest.mark.parametrize("size_in_blocks", [0, 0.5, 1, 2.25])
def test_block_gzip_round_trips_and_small_files_match_gzipfile(tmp_path, level, size_in_blocks):
    size = int(idx.GZIP_BLOCK * size_in_blocks) + (7 if size_in_blocks else 0)
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
    if size < idx.GZIP_BLOCK:
        expected = io.BytesIO()
        with gzip.GzipFile(path, "wb", compresslevel=level, mtime=0, fileobj=expected) as g:
            g.write(data)
        assert raw == expected.getvalue()


def test_block_gzip_bytes_do_not_depend_on_the_number_of_threads(tmp_path, monkeypatch):
    array = np.resize(np.arange(251, dtype=np.uint8), (3 * idx.GZIP_BLOCK // 784 + 5, 28, 28))
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
            f.write(bytes(3 * idx.GZIP_BLOCK))
            raise RuntimeError("disk full")
    assert threading.active_count() == before
