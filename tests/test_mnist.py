"""The `mnist` (IDX) format as a user sees it: round trips, real files, layouts, options, errors."""

import gzip
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest

from datumaro.components.annotation import AnnotationType, Label, LabelCategories
from datumaro.components.dataset import Dataset, StreamDataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatasetExportError, DatasetImportError, DatumaroError
from datumaro.components.media import Image

from datumaro_mnist_plugins.codecs import idx

from .conftest import DIGITS, assert_same_items, collecting_policy, decompressed, digits_dataset, error_text, label_names





# --- real files ---------------------------------------------------------------------------------------


def test_real_mnist_export_is_byte_identical_to_the_originals(shared_data, tmp_path):
    source = osp.join(shared_data, "mnist-dev")
    Dataset.import_from(source, "mnist").export(str(tmp_path), "mnist", save_media=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        assert decompressed(tmp_path / name) == decompressed(osp.join(source, name)), name
    assert not osp.exists(tmp_path / "train-images-idx3-ubyte.gz")  # labels without images stay so
    assert not [n for n in os.listdir(tmp_path) if n.endswith("-meta.gz")]


def test_real_subsets_labels_without_images_and_views(shared_data):
    dataset = Dataset.import_from(osp.join(shared_data, "mnist-dev"), "mnist")
    assert len(dataset.get_subset("test")) == 5000 and len(dataset.get_subset("train")) == 60000
    train_item = dataset.get("0", "train")
    assert train_item.media is None and train_item.annotations[0].label == 5  # the first MNIST training label
    first, second = dataset.get("0", "test"), dataset.get("1", "test")
    assert first.annotations[0].label == 7 and second.annotations[0].label == 2
    assert first.media.data.shape == (28, 28) and first.media.data.dtype == np.uint8
    assert np.shares_memory(first.media.data, second.media.data) or (
        first.media.data.base is not None and first.media.data.base is second.media.data.base
    ), "images must be views of one array"


def test_uncompressed_files_are_read_and_preferred(real_test_digits, tmp_path):
    for name in os.listdir(real_test_digits):
        with gzip.open(osp.join(real_test_digits, name)) as src, open(tmp_path / name[:-3], "wb") as dst:
            dst.write(src.read())
    raw = Dataset.import_from(str(tmp_path), "mnist")
    assert_same_items(Dataset.import_from(real_test_digits, "mnist"), raw)
    for name in os.listdir(real_test_digits):  # raw and .gz side by side: still one subset, once
        shutil.copy(osp.join(real_test_digits, name), tmp_path / name)
    assert len(Dataset.import_from(str(tmp_path), "mnist")) == 5000


# --- the IDX layer --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
def test_every_idx_type_round_trips_through_the_codec(tmp_path, dtype):
    values = (np.arange(2 * 3 * 4) % 100).astype(dtype).reshape(2, 3, 4)
    for suffix in ("", ".gz", ".xz", ".bz2"):
        path = str(tmp_path / f"a-images-idx3-ubyte{suffix}")
        idx.write_idx(path, values)
        read = idx.read_idx(path)
        assert read.shape == values.shape and np.array_equal(read, values) and read.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", ["i1", ">i2", ">f4", ">f8"])
def test_images_of_any_idx_type_import(tmp_path, dtype):
    pixels = (np.arange(3 * 28 * 28) % 200).astype(dtype).reshape(3, 28, 28)
    idx.write_idx(str(tmp_path / "train-images-idx3-ubyte.gz"), pixels)
    idx.write_idx(str(tmp_path / "train-labels-idx1-ubyte.gz"), np.array([1, 2, 255], np.uint8))
    items = list(Dataset.import_from(str(tmp_path), "mnist"))
    assert [len(i.annotations) for i in items] == [1, 1, 0]  # 255 is "no label"
    # Datumaro's Image.data is uint8 (clipped); the original values stay available
    assert np.array_equal(items[2].media.data, np.clip(pixels[2], 0, 255))
    assert np.array_equal(items[2].media.get_data_as_dtype(np.dtype(dtype).newbyteorder("=")), pixels[2])


def test_exported_header_counts_items_not_pixels(tmp_path):
    digits_dataset(count=7, subsets=("train",)).export(str(tmp_path), "mnist", save_media=True)
    images = decompressed(tmp_path / "train-images-idx3-ubyte.gz")
    assert images[:16] == bytes.fromhex("00000803") + (7).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    labels = decompressed(tmp_path / "train-labels-idx1-ubyte.gz")
    assert labels[:8] == bytes.fromhex("00000801") + (7).to_bytes(4, "big")


def test_uniform_non_28_size_is_a_valid_idx_without_sidecar(tmp_path):
    source = digits_dataset(count=4, subsets=("train",), size=(32, 20))
    source.export(str(tmp_path), "mnist", save_media=True)
    assert idx.read_idx(str(tmp_path / "train-images-idx3-ubyte.gz")).shape == (4, 32, 20)
    assert not osp.exists(tmp_path / "train-meta.gz")
    assert_same_items(source, Dataset.import_from(str(tmp_path), "mnist"))


def test_mixed_sizes_and_missing_images_use_the_sidecar(tmp_path):
    source = Dataset.from_iterable(
        [
            DatasetItem(id="0", media=Image.from_numpy(data=np.full((3, 5), 7, np.uint8)), annotations=[Label(1)]),
            DatasetItem(id="1", annotations=[Label(2)]),
            DatasetItem(id="2", media=Image.from_numpy(data=np.full((28, 28), 9, np.uint8))),
        ],
        categories=DIGITS,
    )
    source.export(str(tmp_path), "mnist", save_media=True)
    assert osp.isfile(tmp_path / "default-meta.gz")
    assert_same_items(source, Dataset.import_from(str(tmp_path), "mnist"))


# --- categories ------------------------------------------------------------------------------------------


def write_tiny(folder, labels=(0, 1, 2)):
    idx.write_idx(osp.join(folder, "train-labels-idx1-ubyte.gz"), np.array(labels, np.uint8))


def test_categories_meta_file_wins_over_labels_txt_which_wins_over_digits(tmp_path):
    write_tiny(tmp_path)
    assert label_names(Dataset.import_from(str(tmp_path), "mnist")) == list("0123456789")
    (tmp_path / "labels.txt").write_bytes("\ufeffcat\r\n\r\ndog\r\nbird\r\n".encode())  # BOM, CRLF, blank line
    assert label_names(Dataset.import_from(str(tmp_path), "mnist")) == ["cat", "dog", "bird"]
    (tmp_path / "dataset_meta.json").write_text(json.dumps({"labels": ["a", "b", "c", "d"]}))
    assert label_names(Dataset.import_from(str(tmp_path), "mnist")) == ["a", "b", "c", "d"]


def test_label_outside_categories_is_an_error_naming_the_file(tmp_path):
    write_tiny(tmp_path, labels=(0, 7))
    (tmp_path / "labels.txt").write_text("a\nb\n")
    with pytest.raises(DatumaroError) as info:
        list(Dataset.import_from(str(tmp_path), "mnist"))
    assert "train-labels-idx1-ubyte.gz" in error_text(info.value) and "label 7" in error_text(info.value)


def test_bad_label_can_be_skipped_through_the_error_policy(tmp_path):
    write_tiny(tmp_path, labels=(0, 7, 1))
    (tmp_path / "labels.txt").write_text("a\nb\n")
    policy = collecting_policy()
    dataset = Dataset.import_from(str(tmp_path), "mnist", error_policy=policy)
    assert [len(i.annotations) for i in dataset] == [1, 0, 1] and len(policy.errors) == 1


def test_mismatched_image_and_label_counts_are_an_error(tmp_path):
    idx.write_idx(str(tmp_path / "train-images-idx3-ubyte.gz"), np.zeros((3, 28, 28), np.uint8))
    write_tiny(tmp_path, labels=(0, 1))
    with pytest.raises(DatasetImportError) as info:
        list(Dataset.import_from(str(tmp_path), "mnist"))
    assert "3 images" in error_text(info.value) and "train-labels-idx1-ubyte.gz" in error_text(info.value)


def test_images_without_labels_give_items_without_annotations(tmp_path):
    idx.write_idx(str(tmp_path / "train-images-idx3-ubyte"), np.full((2, 28, 28), 3, np.uint8))
    items = list(Dataset.import_from(str(tmp_path), "mnist"))
    assert [(i.id, i.annotations, i.media.data[0, 0]) for i in items] == [("0", [], 3), ("1", [], 3)]


# --- exporter options -------------------------------------------------------------------------------------


def test_save_media_off_writes_labels_only_and_labels_txt_always(tmp_path):
    digits_dataset(count=3).export(str(tmp_path), "mnist")
    assert sorted(os.listdir(tmp_path)) == ["labels.txt", "t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_save_dataset_meta(tmp_path):
    digits_dataset(count=3).export(str(tmp_path), "mnist", save_dataset_meta=True)
    assert json.loads((tmp_path / "dataset_meta.json").read_text())["labels"] == list("0123456789")


def test_color_and_float_images_are_converted(tmp_path):
    bgr = np.zeros((28, 28, 3), np.uint8)
    bgr[..., 2] = 200  # pure red in BGR order
    source = Dataset.from_iterable(
        [
            DatasetItem(id="0", media=Image.from_numpy(data=bgr)),
            DatasetItem(id="1", media=Image.from_numpy(data=np.dstack([bgr, np.full((28, 28), 255, np.uint8)]))),
            DatasetItem(id="2", media=Image.from_numpy(data=np.full((28, 28), 12.0))),
        ],
        categories=DIGITS,
    )
    source.export(str(tmp_path), "mnist", save_media=True)
    images = idx.read_idx(str(tmp_path / "default-images-idx3-ubyte.gz"))
    assert images[0, 0, 0] == images[1, 0, 0] == round(200 * 0.299) and images[2, 0, 0] == 12


def test_values_outside_0_255_are_an_error_naming_the_item(tmp_path):
    source = Dataset.from_iterable(
        [DatasetItem(id="too-bright", media=Image.from_numpy(data=np.full((28, 28), 300.0)))], categories=DIGITS
    )
    with pytest.raises(DatasetExportError, match="too-bright"):
        source.export(str(tmp_path / "out"), "mnist", save_media=True)
    assert not osp.exists(tmp_path / "out")


def test_labels_that_do_not_fit_a_ubyte_are_an_error(tmp_path):
    many = {AnnotationType.label: LabelCategories.from_iterable(f"c{i}" for i in range(300))}
    source = Dataset.from_iterable([DatasetItem(id="0", annotations=[Label(255)])], categories=many)
    with pytest.raises(DatasetExportError, match="0..254"):
        source.export(str(tmp_path), "mnist")


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".jpg", ".webp"])
def test_image_ext_writes_viewable_images(tmp_path, ext):
    from PIL import Image as PILImage

    source = digits_dataset(count=2, subsets=("train",))
    source.export(str(tmp_path), "mnist", save_media=True, image_ext=ext)
    path = tmp_path / "images" / "train" / f"1{ext}"
    with PILImage.open(path) as image:
        assert image.size == (28, 28) and image.mode in ("L", "RGB")  # WebP has no grayscale mode
    if ext in (".png", ".bmp", ".tif"):  # lossless: the same pixels
        with PILImage.open(path) as image:
            assert np.array_equal(np.asarray(image), source.get("1", "train").media.data)


def test_unknown_image_ext_is_an_error_before_anything_is_written(tmp_path):
    with pytest.raises(DatasetExportError, match=".nope"):
        digits_dataset(count=2).export(str(tmp_path / "out"), "mnist", save_media=True, image_ext=".nope")
    assert not osp.exists(tmp_path / "out")


def test_image_files_are_used_as_media_when_there_is_no_idx_images_file(tmp_path):
    source = digits_dataset(count=3, subsets=("train",))
    source.export(str(tmp_path), "mnist", save_media=True, image_ext=".png")
    os.remove(tmp_path / "train-images-idx3-ubyte.gz")
    assert_same_items(source, Dataset.import_from(str(tmp_path), "mnist"))


def test_ids_round_trip_through_the_sidecar(tmp_path):
    long_id = "a-very-long-file-name-that-does-not-fit-32-characters/" * 2 + "x"
    source = Dataset.from_iterable(
        [
            DatasetItem(id="q/1", subset="test", media=Image.from_numpy(data=np.ones((28, 28), np.uint8))),
            DatasetItem(id=long_id, subset="test", annotations=[Label(3)], media=Image.from_numpy(data=np.ones((28, 28), np.uint8))),
        ],
        categories=DIGITS,
    )
    source.export(str(tmp_path), "mnist", save_media=True)
    assert osp.isfile(tmp_path / "t10k-images-idx3-ubyte.gz") and osp.isfile(tmp_path / "test-meta.gz")
    assert_same_items(source, Dataset.import_from(str(tmp_path), "mnist"))


# --- replacing an earlier export only on success ----------------------------------------------------------


class Unreadable(Image):
    """An image whose pixels can't be read (a file gone missing, a broken decoder)."""


def test_a_failed_export_leaves_the_earlier_export_as_it_was(tmp_path):
    out = tmp_path / "out"
    digits_dataset(count=3).export(str(out), "mnist", save_media=True)
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}

    def broken():
        raise OSError("disk read error")

    bad = Dataset.from_iterable(
        [
            DatasetItem(id="0", subset="a", media=Image.from_numpy(data=np.ones((28, 28), np.uint8))),
            DatasetItem(id="0", subset="b", media=Image.from_numpy(data=broken)),
        ],
        categories=DIGITS,
    )
    with pytest.raises(DatasetExportError, match="subset 'b'"):
        bad.export(str(out), "mnist", save_media=True)
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before
    assert [n for n in os.listdir(tmp_path) if n != "out"] == []  # no staging folder left behind


def test_a_successful_export_replaces_the_earlier_one_and_keeps_foreign_files(tmp_path):
    out = tmp_path / "out"
    digits_dataset(count=3, subsets=("train", "test")).export(str(out), "mnist", save_media=True)
    (out / "NOTES.md").write_text("mine")
    digits_dataset(count=2, subsets=("val",)).export(str(out), "mnist", save_media=True)
    assert sorted(os.listdir(out)) == ["NOTES.md", "labels.txt", "val-images-idx3-ubyte.gz", "val-labels-idx1-ubyte.gz"]
    assert len(Dataset.import_from(str(out), "mnist")) == 2


# --- streaming and pipelines --------------------------------------------------------------------------------


def test_streaming_import_and_export(real_test_digits, tmp_path):
    stream = StreamDataset.import_from(real_test_digits, "mnist")
    assert stream.is_stream
    stream.export(str(tmp_path), "mnist", save_media=True)
    for name in os.listdir(real_test_digits):
        assert decompressed(tmp_path / name) == decompressed(osp.join(real_test_digits, name))


def test_filter_then_export_keeps_label_names(real_test_digits, tmp_path):
    (tmp_path / "src").mkdir()
    for name in os.listdir(real_test_digits):
        shutil.copy(osp.join(real_test_digits, name), tmp_path / "src" / name)
    (tmp_path / "src" / "labels.txt").write_text("".join(f"digit-{i}\n" for i in range(10)))
    dataset = Dataset.import_from(str(tmp_path / "src"), "mnist")
    threes = dataset.filter('/item[annotation/label="digit-3"]')
    threes.export(str(tmp_path / "out"), "mnist", save_media=True)
    result = Dataset.import_from(str(tmp_path / "out"), "mnist")
    assert len(result) == sum(1 for i in dataset if i.annotations[0].label == 3) > 400
    assert {i.annotations[0].label for i in result} == {3}
    assert label_names(result) == [f"digit-{i}" for i in range(10)]


def test_progress_is_reported(real_test_digits):
    from datumaro.components.progress_reporting import SimpleProgressReporter

    class Counting(SimpleProgressReporter):
        def __init__(self):
            super().__init__(period=0.01)
            self.totals, self.steps = [], []

        def split(self, count):
            return (self,) * count

        def start(self, total, *, desc=None):
            self.totals.append(total)
            super().start(total, desc=desc)

        def report_status(self, progress):
            self.steps.append(progress)

    reporter = Counting()
    Dataset.import_from(real_test_digits, "mnist", progress_reporter=reporter)
    assert 5000 in reporter.totals and max(reporter.steps) >= 4950


# --- the importer hands what it found to the extractor ------------------------------------------------


@pytest.mark.parametrize("ids", [False, True], ids=["no-sidecar", "sidecar"])
def test_import_scans_each_folder_once_and_reads_each_images_header_once(tmp_path, monkeypatch, ids):
    from datumaro_mnist_plugins import idx_files

    dataset = digits_dataset(count=4)
    if ids:
        dataset.transform("rename", regex="|^(.*)$|item-\\1|")
    dataset.export(str(tmp_path), "mnist", save_media=True)
    scans, headers = [], []
    real_find, real_header = idx_files.find_subsets, idx.read_header
    monkeypatch.setattr(idx_files, "find_subsets", lambda folder: scans.append(folder) or real_find(folder))
    monkeypatch.setattr(idx, "read_header", lambda path: headers.append(osp.basename(path)) or real_header(path))
    imported = Dataset.import_from(str(tmp_path), "mnist")
    assert len(imported) == 8 and all(item.media.data.shape == (28, 28) for item in imported)
    assert scans == [osp.normpath(str(tmp_path))]
    assert sorted(headers) == ["t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz"]


def test_an_extractor_made_from_a_path_alone_finds_its_files(tmp_path):
    from datumaro_mnist_plugins.mnist import MnistBase

    digits_dataset(count=3).export(str(tmp_path), "mnist", save_media=True)
    expected = Dataset.import_from(str(tmp_path), "mnist")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        extractor = MnistBase(str(tmp_path / name))
        assert extractor.subsets() and len(extractor) == 3
        assert_same_items(expected.get_subset("test"), Dataset.from_extractors(extractor))
    with pytest.raises(DatasetImportError, match="not an MNIST images or labels file"):
        MnistBase(str(tmp_path / "labels.txt"))
