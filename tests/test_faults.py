"""Bad input, faults and safety: clear errors, bounded memory, nothing lost (issue 7).

Every corrupt input must reach the user as a Datumaro error whose message chain names the offending
file and says what is wrong and where; imports must not allocate for what a header merely claims; and
an export that fails — an unreadable image, a full disk, ``kill -9`` — must leave its destination as
it was. One regression test per case, then a short run of the fuzzer (``benchmarks/fuzz.py``).
"""

import errno
import gzip
import importlib.util
import os
import os.path as osp
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datumaro.components.annotation import AnnotationType, Label, LabelCategories
from datumaro.components.contexts.importer import _ImportFail
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatasetExportError, DatumaroError
from datumaro.components.media import Image

from datumaro_mnist_plugins import export, transaction

from datumaro_mnist_plugins.codecs import idx

from .conftest import DIGITS, collecting_policy, leftovers, run_datum, traced_peak, write_mnist_sidecar

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FORMATS = ["mnist", "mnist_csv"]
IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"


# --- helpers -------------------------------------------------------------------------------------------


def chain(error):
    """The errors a traceback shows, outermost first (causes, and contexts that are not suppressed)."""
    errors = []
    while error is not None and len(errors) < 10:
        errors.append(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return errors


def reason(error):
    """What a user reads as the reason: the first error below Datumaro's generic wrappers."""
    for e in chain(error):
        if isinstance(e, _ImportFail) or str(e).startswith("Failed to import dataset "):
            continue
        return e
    return error


def import_all(path, fmt="mnist", **kwargs):
    return list(Dataset.import_from(str(path), fmt, **kwargs))


def assert_clear_import_error(path, *needles, fmt="mnist"):
    """Importing the folder of *path* (or *path*) fails with an error whose reason names *path* and says *needles*."""
    with pytest.raises(DatumaroError) as info:
        import_all(path if osp.isdir(path) else osp.dirname(path), fmt)
    why = reason(info.value)
    text = str(why)
    assert isinstance(why, (DatumaroError, idx.IdxFormatError)), f"{type(why).__name__}: {text}"
    assert str(path) in text, text  # names the offending file (all live in the dataset folder)
    for needle in needles:
        assert needle in text, text
    return text


def digits(count=3, subsets=("train",), size=(28, 28), seed=0, ids=None):
    rng = np.random.default_rng(seed)
    return Dataset.from_iterable(
        [
            DatasetItem(
                id=ids[i] if ids else str(i),
                subset=subset,
                media=Image.from_numpy(data=rng.integers(0, 256, size, dtype=np.uint8)),
                annotations=[Label(int(rng.integers(0, 10)))],
            )
            for subset in subsets
            for i in range(count)
        ],
        categories=DIGITS,
    )


def write_idx_folder(folder, count=3, suffix=".gz", labels=None):
    os.makedirs(folder, exist_ok=True)
    images = np.arange(count * 28 * 28, dtype=np.uint64).astype(np.uint8).reshape(count, 28, 28)
    idx.write_idx(osp.join(folder, IMAGES + suffix), images)
    idx.write_idx(osp.join(folder, LABELS + suffix), np.array(labels or range(count), np.uint8))
    return folder


def rewrite_payload(path, change):
    """Replace an IDX file's decompressed bytes with change(bytes), keeping its compression."""
    with idx.open_binary(path) as f:
        data = f.read()
    with idx.open_binary(path, "wb") as f:
        f.write(change(data))


def snapshot(folder):
    """Every file under *folder* with its bytes."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = osp.join(root, name)
            with open(path, "rb") as f:
                files[osp.relpath(path, folder)] = f.read()
    return files


# --- corrupt IDX files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gz", ".xz", ".bz2"])
def test_truncated_compressed_file_is_an_error_naming_it(tmp_path, suffix):
    write_idx_folder(tmp_path, suffix=suffix)
    path = tmp_path / (IMAGES + suffix)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_clear_import_error(path, "truncated")


@pytest.mark.parametrize("suffix, cut", [(".gz", 4), (".xz", 12), (".bz2", 2)])
def test_compressed_file_cut_after_its_payload_is_still_an_error(tmp_path, suffix, cut):
    """A download cut in the trailer: every value is there, but the integrity check is not."""
    write_idx_folder(tmp_path, suffix=suffix)
    path = tmp_path / (IMAGES + suffix)
    path.write_bytes(path.read_bytes()[:-cut])
    assert_clear_import_error(path, "corrupt or truncated")


def test_gzip_crc_mismatch_is_an_error(tmp_path):
    """A bit flipped in transit: deflate may still decode, the CRC says the data is wrong."""
    write_idx_folder(tmp_path)
    path = tmp_path / (LABELS + ".gz")
    data = bytearray(path.read_bytes())
    data[-8] ^= 0x01  # the CRC32 of the trailer
    path.write_bytes(bytes(data))
    assert_clear_import_error(path, "CRC")


def test_trailing_garbage_after_gzip_is_an_error(tmp_path):
    write_idx_folder(tmp_path)
    path = tmp_path / (IMAGES + ".gz")
    path.write_bytes(path.read_bytes() + b"<html>404</html>")
    assert_clear_import_error(path, "corrupt or truncated")


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("change, needle", [(lambda b: b[:-5], "truncated"), (lambda b: b + b"\0\0", "longer")])
def test_payload_shorter_or_longer_than_the_header_says(tmp_path, suffix, change, needle):
    write_idx_folder(tmp_path, suffix=suffix)
    path = tmp_path / (IMAGES + suffix)
    rewrite_payload(str(path), change)
    assert_clear_import_error(path, needle, "at byte")


def test_bad_magic_number(tmp_path):
    write_idx_folder(tmp_path)
    path = tmp_path / (IMAGES + ".gz")
    rewrite_payload(str(path), lambda b: b"\x01" + b[1:])
    assert_clear_import_error(path, "bad magic number", "at byte 0")


def test_unknown_type_code(tmp_path):
    write_idx_folder(tmp_path)
    path = tmp_path / (LABELS + ".gz")
    rewrite_payload(str(path), lambda b: b[:2] + b"\x0a" + b[3:])
    assert_clear_import_error(path, "type code 0x0A", "at byte 2")


@pytest.mark.parametrize("name, data, needle", [
    (IMAGES + ".gz", b"\0\0\x08\x03" + b"\0" * 16, "not a .gz file"),  # raw bytes under a .gz name
    (IMAGES, gzip.compress(b"\0\0\x08\x01\0\0\0\0"), "compressed"),  # gzip bytes under a raw name
    (IMAGES + ".xz", gzip.compress(b"\0\0\x08\x01\0\0\0\0"), "not a .xz file"),
])
def test_mislabeled_compression(tmp_path, name, data, needle):
    write_idx_folder(tmp_path, suffix="")
    (tmp_path / IMAGES).unlink()
    (tmp_path / name).write_bytes(data)
    assert_clear_import_error(tmp_path / name, needle)


def test_image_and_label_counts_that_disagree(tmp_path):
    write_idx_folder(tmp_path, count=3)
    idx.write_idx(str(tmp_path / (LABELS + ".gz")), np.array([1, 2], np.uint8))
    text = assert_clear_import_error(tmp_path, "3 images")
    assert LABELS in text and "2 labels" in text


@pytest.mark.parametrize("array, needle", [
    (np.zeros((3, 2), np.uint8), "one integer per item"),
    (np.zeros(3, np.float32), "one integer per item"),
])
def test_labels_file_of_the_wrong_shape_or_type(tmp_path, array, needle):
    write_idx_folder(tmp_path)
    idx.write_idx(str(tmp_path / (LABELS + ".gz")), array)
    assert_clear_import_error(tmp_path / (LABELS + ".gz"), needle)


def test_images_of_zero_pixels_without_their_sizes_sidecar(tmp_path):
    """Mixed sizes are written as N x 0 x 0 with a sidecar; without it, a clear error, not 0x0 images."""
    write_idx_folder(tmp_path)
    idx.write_idx(str(tmp_path / (IMAGES + ".gz")), np.zeros((3, 0, 0), np.uint8))
    assert_clear_import_error(tmp_path / (IMAGES + ".gz"), "sidecar")


def test_images_file_of_zero_dimensions(tmp_path):
    idx.write_idx(str(tmp_path / (IMAGES + ".gz")), np.zeros((), np.uint8))
    assert_clear_import_error(tmp_path / (IMAGES + ".gz"))


# --- labels outside the categories (through the import error policy) -----------------------------------




def test_label_outside_the_categories_names_file_and_item(tmp_path):
    write_idx_folder(tmp_path, labels=[0, 12, 1])
    text = assert_clear_import_error(tmp_path / (LABELS + ".gz"), "item 1", "label 12")
    assert "categories" in text
    policy = collecting_policy()  # a user's policy can skip the label and keep the item
    items = import_all(tmp_path, error_policy=policy)
    assert [len(i.annotations) for i in items] == [1, 0, 1] and len(policy.errors) == 1


@pytest.mark.parametrize("mapping, needle", [("0 48\n1 57256\n", "line 2"), ("0 48\n1 x\n", "line 2")])
def test_emnist_mapping_with_a_code_that_is_no_character(tmp_path, mapping, needle):
    prefix = "emnist-digits-test-"
    idx.write_idx(str(tmp_path / (prefix + "images-idx3-ubyte.gz")), np.zeros((2, 28, 28), np.uint8))
    idx.write_idx(str(tmp_path / (prefix + "labels-idx1-ubyte.gz")), np.array([0, 1], np.uint8))
    (tmp_path / "emnist-digits-mapping.txt").write_text(mapping)
    assert_clear_import_error(tmp_path / "emnist-digits-mapping.txt", needle)


def test_label_outside_the_categories_in_csv_names_file_and_line(tmp_path):
    digits(2).export(str(tmp_path), "mnist_csv", save_media=True)
    (tmp_path / "labels.txt").write_text("a\nb\n")
    data_file = next(p for p in tmp_path.iterdir() if p.name.startswith("mnist_"))
    assert_clear_import_error(data_file, "line ", fmt="mnist_csv")


# --- labels.txt and dataset_meta.json ----------------------------------------------------------------------


def write_format(folder, fmt, dataset=None):
    (dataset or digits(3)).export(str(folder), fmt, save_media=True)
    return folder


@pytest.mark.parametrize("fmt", FORMATS)
def test_labels_txt_that_is_not_utf8(tmp_path, fmt):
    write_format(tmp_path, fmt)
    (tmp_path / "labels.txt").write_bytes("zero\nün\n".encode("latin-1"))
    assert_clear_import_error(tmp_path / "labels.txt", "not UTF-8", "line 2", fmt=fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_labels_txt_with_bom_crlf_and_blank_lines_is_fine(tmp_path, fmt):
    write_format(tmp_path, fmt)
    (tmp_path / "labels.txt").write_bytes(
        b"\xef\xbb\xbf" + "\r\n".join(["zero", "", "one", "two", "  ", "three", "4", "5", "6", "7", "8", "9"]).encode()
        + b"\r\n\r\n"
    )
    dataset = Dataset.import_from(str(tmp_path), fmt)
    assert [c.name for c in dataset.categories()[AnnotationType.label]][:4] == ["zero", "one", "two", "three"]
    assert len(list(dataset)) == 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_class_names_labels_txt_cannot_hold_are_not_lost(tmp_path, fmt):
    """A blank, padded or multi-line name would change in labels.txt: dataset_meta.json keeps it."""
    names = [" ", "padded ", "two\nlines", "\ufeffbom", "plain"]
    dataset = Dataset.from_iterable(
        [DatasetItem(id=str(i), subset="train", media=Image.from_numpy(data=np.zeros((2, 2), np.uint8)),
                     annotations=[Label(i)]) for i in range(len(names))],
        categories={AnnotationType.label: LabelCategories.from_iterable(names)},
    )
    dataset.export(str(tmp_path), fmt, save_media=True)
    back = Dataset.import_from(str(tmp_path), fmt)
    assert [c.name for c in back.categories()[AnnotationType.label]] == names
    assert [item.annotations[0].label for item in back] == list(range(len(names)))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("content, needle", [
    (b"{labels: [", "not a valid JSON"),
    (b"\xff\xfe{}", "not a valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"labels": [1, 2]}', "'labels'"),
    (b'{"labels": "0123"}', "'labels'"),
    (b'{"label_map": {"x": "a"}}', "'label_map'"),
    (b'{"labels": ["a", "a"]}', "listed twice"),
    (b'{"labels": ["zero", ""]}', "label 1 has an empty name"),
    (b'{"labels": ["zero", "\\udfa8"]}', "not text"),
])
def test_malformed_dataset_meta_json(tmp_path, fmt, content, needle):
    write_format(tmp_path, fmt)
    (tmp_path / "dataset_meta.json").write_bytes(content)
    assert_clear_import_error(tmp_path / "dataset_meta.json", needle, fmt=fmt)


# --- sidecars: ids and sizes that don't fit ----------------------------------------------------------------


@pytest.mark.parametrize("rows, needles", [
    ([["a"], ["../../x"], ["c"]], ["row 2", "'../../x'", "escape"]),
    ([["a"], ["/etc/passwd"], ["c"]], ["row 2", "absolute"]),
    ([["a"], [""], ["c"]], ["row 2", "empty"]),
    ([["a"], ["a"], ["c"]], ["more than once"]),
    ([["a"], ["b"]], ["3 rows"]),  # 2 ids for 3 items
    ([["a", "x", "28"], ["b", "28", "28"], ["c", "28", "28"]], ["not a number"]),
    ([["a", "-1", "28"], ["b", "28", "28"], ["c", "28", "28"]], ["row 1", "-1x28"]),
    ([["a", "0", "28"], ["b", "28", "28"], ["c", "28", "28"]], ["row 1", "0x28"]),
    ([["a", "99999999999999999999", "9"], ["b", "28", "28"], ["c", "28", "28"]], ["row 1", "bad image size"]),
])
def test_mnist_sidecar_whose_ids_or_sizes_do_not_fit(tmp_path, rows, needles):
    write_idx_folder(tmp_path)
    write_mnist_sidecar(tmp_path, rows)
    assert_clear_import_error(tmp_path / "train-meta.gz", *needles)


def test_mnist_sidecar_sizes_the_images_file_does_not_hold(tmp_path):
    write_idx_folder(tmp_path)
    write_mnist_sidecar(tmp_path, [["a", "28", "28"], ["b", "28", "28"], ["c", "28", "29"]])
    assert_clear_import_error(tmp_path / (IMAGES + ".gz"), "truncated")
    # sizes whose total overflows 64 bits: refused by the file's size, not wrapped around by numpy
    write_mnist_sidecar(tmp_path, [["a", "4294967295", "4294967295"], ["b", "4294967295", "4294967295"], ["c", "1", "1"]])
    assert_clear_import_error(tmp_path / (IMAGES + ".gz"), "truncated")


@pytest.mark.parametrize("content, needle", [
    (b"hello", "not a readable gzip"),
    (gzip.compress(np.array([["a"], ["b"], ["c"]], "<U32").tobytes())[:30], "not a readable gzip"),
    (gzip.compress(b"\xff" * (3 * 32 * 4)), "not UTF-32"),
])
def test_mnist_sidecar_that_is_damaged(tmp_path, content, needle):
    write_idx_folder(tmp_path)
    (tmp_path / "train-meta.gz").write_bytes(content)
    assert_clear_import_error(tmp_path / "train-meta.gz", needle)


def test_csv_sidecar_with_an_escaping_id(tmp_path):
    write_format(tmp_path, "mnist_csv", digits(3, ids=["a", "b", "c"]))
    sidecar = tmp_path / "meta_train.csv"
    assert sidecar.read_text().splitlines() == ["a", "b", "c"]
    sidecar.write_text("a\n../../x\nc\n")
    assert_clear_import_error(sidecar, "row 2", "'../../x'", fmt="mnist_csv")


@pytest.mark.parametrize("text, needle", [
    ("7,0,0\n", "line 1"),  # ragged: 3 values
    ("7" + ",0" * 783 + ",x\n", "line 1"),  # not a number
    ("7" + ",0" * 783 + ",256\n", "0..255"),  # out of range
])
def test_csv_rows_that_are_ragged_non_numeric_or_out_of_range(tmp_path, text, needle):
    path = tmp_path / "mnist_train.csv"
    path.write_text(text)
    assert_clear_import_error(path, needle, fmt="mnist_csv")


@pytest.mark.parametrize("fmt", FORMATS)
def test_ids_with_line_breaks_quotes_and_commas_round_trip(tmp_path, fmt):
    ids = ["\r", "a\nb", "c\r\nd", "x,y", '"q"', " padded "]
    digits(len(ids), ids=ids).export(str(tmp_path), fmt, save_media=True)
    assert sorted(item.id for item in import_all(tmp_path, fmt)) == sorted(ids)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_id_no_file_can_hold_is_refused_on_export(tmp_path, fmt):
    with pytest.raises(DatasetExportError, match="NUL"):
        digits(2, ids=["a", "b\0"]).export(str(tmp_path / "out"), fmt, save_media=True)
    assert not (tmp_path / "out").exists()


def test_cli_user_sees_the_file_and_the_problem(tmp_path):
    write_idx_folder(tmp_path / "in")
    path = tmp_path / "in" / (IMAGES + ".gz")
    path.write_bytes(path.read_bytes()[:40])
    result = run_datum("convert", "-if", "mnist", "-i", str(tmp_path / "in"), "-f", "mnist_csv",
                       "-o", str(tmp_path / "out"), check=False)
    assert result.returncode != 0
    assert f"{path}: compressed data is corrupt or truncated" in result.stderr
    assert not (tmp_path / "out").exists()


# --- bounded resources -------------------------------------------------------------------------------------


HUGE_HEADER = b"\0\0\x08\x03" + (2**31).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2


@pytest.mark.parametrize("suffix", ["", ".gz", ".xz"])
def test_header_claiming_2_31_images_in_1_kb_is_rejected_before_allocating(tmp_path, suffix):
    path = str(tmp_path / (IMAGES + suffix))
    payload = HUGE_HEADER + bytes(range(256)) * 4
    with idx.open_binary(path, "wb") as f:
        f.write(payload)
    warm_up = write_idx_folder(tmp_path / "warm-up", count=1, suffix=suffix)
    import_all(warm_up)  # Datumaro's own one-time set-up is not ours
    # a decoder's own state (xz: an 8 MB window) is what reading a valid 1-image file costs too
    _, baseline = traced_peak(lambda: idx.read_idx(osp.join(warm_up, IMAGES + suffix)))

    error, peak = traced_peak(lambda: idx.read_idx(path))
    assert isinstance(error, idx.IdxFormatError) and "truncated" in str(error)
    assert peak - baseline < 256 * 1024, (peak, baseline)  # ~1.7 TB promised, kilobytes spent
    error, peak = traced_peak(lambda: import_all(tmp_path))
    assert isinstance(error, DatumaroError) and path in str(reason(error))
    assert peak - baseline < 1 << 20, (peak, baseline)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_an_empty_array_of_impossible_dimensions_is_a_clear_error(tmp_path, suffix):
    """0 x 2^32-1 x 2^32-1 x ... holds no values, but numpy can't shape even an empty array like that."""
    path = str(tmp_path / (LABELS.replace("idx1", "idx4") + suffix))
    with idx.open_binary(path, "wb") as f:
        f.write(b"\0\0\x08\x04" + (0).to_bytes(4, "big") + (2**32 - 1).to_bytes(4, "big") * 3)
    with pytest.raises(idx.IdxFormatError, match="too large for an array"):
        idx.read_idx(path)


def test_gzip_bomb_is_not_read_to_the_end(tmp_path, monkeypatch):
    """3 labels promised, 32 MB of zeros inflated from 32 KB: reading stops one byte past the promise."""
    path = tmp_path / (LABELS + ".gz")
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(b"\0\0\x08\x01" + (3).to_bytes(4, "big"))
        zeros = bytes(1 << 20)
        for _ in range(32):
            f.write(zeros)
    inflated = []
    original = idx.open_binary

    class Counting:
        def __init__(self, stream):
            self.stream = stream

        def read(self, size=-1):
            data = self.stream.read(size)
            inflated.append(len(data))
            return data

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.stream.close()

    monkeypatch.setattr(idx, "open_binary", lambda *a, **k: Counting(original(*a, **k)))
    error, peak = traced_peak(lambda: idx.read_idx(str(path)))
    assert isinstance(error, idx.IdxFormatError) and "longer than its header says" in str(error)
    assert sum(inflated) <= 8 + 3 + 1, inflated
    assert peak < 1 << 20, peak
    monkeypatch.undo()
    assert_clear_import_error(path, "longer than its header says")


def test_images_only_subset_claiming_2_31_images_with_a_sidecar(tmp_path):
    (tmp_path / (IMAGES + ".gz")).write_bytes(gzip.compress(HUGE_HEADER + bytes(1000)))
    write_mnist_sidecar(tmp_path, [["a"], ["b"]])
    error, peak = traced_peak(lambda: import_all(tmp_path))
    # the header's count is checked against the images file before it sizes the sidecar's read
    assert isinstance(error, DatumaroError) and f"{IMAGES}.gz: " in str(reason(error))
    assert "data truncated" in str(reason(error))
    assert peak < 4 << 20, peak


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_allocates_a_small_multiple_of_what_it_returns(real_test_digits, tmp_path, fmt):
    folder = real_test_digits
    if fmt != "mnist":
        folder = str(tmp_path / fmt)
        Dataset.import_from(real_test_digits, "mnist").export(folder, fmt, save_media=True)
    import_all(folder, fmt)  # warm up Datumaro's one-time set-up
    items, peak = traced_peak(lambda: import_all(folder, fmt))
    pixels = sum(item.media.data.nbytes for item in items)
    assert len(items) == 5000 and pixels == 5000 * 28 * 28
    assert peak < 3 * pixels, (peak, pixels)


# --- nothing lost: exports are atomic -----------------------------------------------------------------------


def broken_pixels():
    raise OSError("disk read error")


def dataset_with_unreadable_second_subset():
    return Dataset.from_iterable(
        [
            DatasetItem(id="0", subset="a", media=Image.from_numpy(data=np.ones((28, 28), np.uint8)),
                        annotations=[Label(1)]),
            DatasetItem(id="0", subset="b", media=Image.from_numpy(data=broken_pixels)),
        ],
        categories=DIGITS,
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_failed_export_leaves_the_destination_exactly_as_it_was(tmp_path, fmt):
    out = tmp_path / "out"
    digits(3, subsets=("train", "test")).export(str(out), fmt, save_media=True, image_ext=".png")
    (out / "NOTES.md").write_text("mine")
    before = snapshot(out)
    with pytest.raises(DatasetExportError, match="subset 'b'"):
        dataset_with_unreadable_second_subset().export(str(out), fmt, save_media=True, image_ext=".png")
    assert snapshot(out) == before
    assert leftovers(tmp_path, ["out"]) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_failed_export_to_a_new_folder_creates_nothing(tmp_path, fmt):
    with pytest.raises(DatasetExportError):
        dataset_with_unreadable_second_subset().export(str(tmp_path / "new"), fmt, save_media=True)
    assert leftovers(tmp_path, []) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_new_export_folder_gets_the_usual_permissions(tmp_path, fmt):
    """The staging folder becomes the dataset folder: it must not keep a private temp-dir mode (0700)."""
    umask = os.umask(0)
    os.umask(umask)
    digits(2).export(str(tmp_path / "out"), fmt, save_media=True)
    assert os.stat(tmp_path / "out").st_mode & 0o777 == 0o777 & ~umask


def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("fmt, where", [("mnist", "labels.txt"), ("mnist_csv", "labels.txt"), ("mnist", "idx payload")])
def test_full_disk_leaves_the_destination_as_it_was(tmp_path, monkeypatch, fmt, where):
    out = tmp_path / "out"
    digits(3).export(str(out), fmt, save_media=True)
    before = snapshot(out)

    if where == "labels.txt":  # the last file written: every data file is already staged
        monkeypatch.setattr(export, "save_label_names", full_disk)
    else:  # half an images file written, then the disk is full
        def half_then_full(path, dtype, shape, payload, **kwargs):
            with open(path, "wb") as f:
                f.write(idx.header_bytes(dtype, shape))
            full_disk()

        monkeypatch.setattr(idx, "write_idx_from_stream", half_then_full)
    with pytest.raises(DatasetExportError) as info:
        digits(5, seed=1).export(str(out), fmt, save_media=True)
    assert "No space left on device" in str(info.value) and str(out) in str(info.value)
    assert snapshot(out) == before
    assert leftovers(tmp_path, ["out"]) == []

    monkeypatch.undo()  # space again: the next export succeeds and leaves nothing behind
    digits(5, seed=1).export(str(out), fmt, save_media=True)
    assert len(import_all(out, fmt)) == 5
    assert leftovers(tmp_path, ["out"]) == []


KILLED_EXPORT = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from datumaro.components.annotation import AnnotationType, Label, LabelCategories
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image

    out, fmt, ready = sys.argv[1:4]

    def pixels(i):
        def load():
            if i == 40:  # mid-export: tell the test, then wait to be killed
                open(ready, "w").close()
                time.sleep(120)
            return np.full((28, 28), i, np.uint8)
        return load

    Dataset.from_iterable(
        [DatasetItem(id=str(i), subset="train", media=Image.from_numpy(data=pixels(i), size=(28, 28)),
                     annotations=[Label(i % 10)]) for i in range(80)],
        categories={AnnotationType.label: LabelCategories.from_iterable("0123456789")},
    ).export(out, fmt, save_media=True)
""")


@pytest.mark.parametrize("fmt", FORMATS)
def test_kill_9_mid_export_leaves_the_destination_as_it_was(tmp_path, fmt):
    out, ready = tmp_path / "out", tmp_path / "ready"
    digits(3).export(str(out), fmt, save_media=True)
    before = snapshot(out)
    script = tmp_path / "export.py"
    script.write_text(KILLED_EXPORT)
    process = subprocess.Popen([sys.executable, str(script), str(out), fmt, str(ready)])
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert process.poll() is None, "the export ended before it was killed"
            assert time.monotonic() < deadline, "the export never reached its middle"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    ready.unlink()
    assert snapshot(out) == before
    assert leftovers(tmp_path, ["out", "export.py"]), "a killed export leaves its staging folder"

    digits(4, seed=2).export(str(out), fmt, save_media=True)  # the next export cleans it up
    assert leftovers(tmp_path, ["out", "export.py"]) == []
    assert len(import_all(out, fmt)) == 4


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_export_does_not_remove_the_staging_folder_of_a_sibling_in_progress(tmp_path, fmt):
    """Exports to "out" and "out-2" at once: finishing the first must not clean up the second's work."""
    with transaction.staged_export(str(tmp_path / "out-2"), lambda name: False) as staging:
        digits(2).export(str(tmp_path / "out"), fmt, save_media=True)
        assert osp.isdir(staging)
        (tmp_path / "out-2").mkdir()
        with open(osp.join(staging, "done.txt"), "w") as f:
            f.write("written while the other export finished")
    assert (tmp_path / "out-2" / "done.txt").exists()
    assert leftovers(tmp_path, ["out", "out-2"]) == []


PARALLEL_EXPORT = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from datumaro.components.annotation import AnnotationType, Label, LabelCategories
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image

    out, fmt, value = sys.argv[1], sys.argv[2], int(sys.argv[3])
    dataset = Dataset.from_iterable(
        [DatasetItem(id=str(i), subset="train", media=Image.from_numpy(data=np.full((28, 28), value, np.uint8)),
                     annotations=[Label(value % 10)]) for i in range(200 + value)],
        categories={AnnotationType.label: LabelCategories.from_iterable("0123456789")},
    )
    open(out + ".ready", "w").close()  # both processes start exporting at the same moment
    deadline = time.monotonic() + 120
    while not all(os.path.exists(f"{os.path.dirname(out)}/{name}.ready") for name in ("out", "out-2")):
        assert time.monotonic() < deadline, "the other process never started"
        time.sleep(0.01)
    for _ in range(6):
        dataset.export(out, fmt, save_media=True)
""")


@pytest.mark.parametrize("fmt", FORMATS)
def test_parallel_exports_to_different_folders_do_not_interfere(tmp_path, fmt):
    script = tmp_path / "export.py"
    script.write_text(PARALLEL_EXPORT)
    targets = {"out": 1, "out-2": 2}
    processes = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path / name), fmt, str(value)],
                         stderr=subprocess.PIPE, text=True)
        for name, value in targets.items()
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, stderr[-3000:]
    for name, value in targets.items():
        items = import_all(tmp_path / name, fmt)
        assert len(items) == 200 + value
        assert all(item.media.data[0, 0] == value and item.annotations[0].label == value for item in items)
    assert leftovers(tmp_path, ["export.py", *targets, *(f"{name}.ready" for name in targets)]) == []


# --- the fuzzer, briefly -------------------------------------------------------------------------------------


def load_fuzzer():
    spec = importlib.util.spec_from_file_location("mnist_fuzz", osp.join(REPO, "benchmarks", "fuzz.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


FUZZ = load_fuzzer()
_SEEDS = []


def fuzz_seeds():
    if not _SEEDS:  # real digits from ../shared/data, or the 100 real digits shipped in assets/
        _SEEDS.extend(FUZZ.build_seeds(quick=True))
    return _SEEDS


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(rng=st.randoms(use_true_random=False))
def test_fuzzed_real_files_fail_only_with_clear_datumaro_errors(rng):
    """Every in-process kind: mutated bytes, file kinds, import name clashes, export subset names, recipes."""
    with tempfile.TemporaryDirectory() as workdir:
        crash = FUZZ.run_one(rng, fuzz_seeds(), workdir, kinds=FUZZ.FAST_KINDS)
    assert crash is None, crash.description


def test_fuzz_seeds_are_valid_datasets(tmp_path):
    """Mutations start from datasets that import: an invalid seed would only test its own error."""
    for seed in fuzz_seeds():
        FUZZ.write_folder(str(tmp_path / seed.name), seed.files)
        items = import_all(tmp_path / seed.name, seed.format)
        assert items, seed.name
        assert FUZZ.check_folder(str(tmp_path / seed.name), seed.format, str(tmp_path / "out" / seed.name)) is None


def test_fuzzer_replays_a_run_seed(tmp_path):
    """What ``benchmarks/fuzz.py --replay N`` relies on: a run seed gives the same mutation every time."""
    seeds = fuzz_seeds()
    assert FUZZ.mutate(random.Random(7), seeds[1].files) == FUZZ.mutate(random.Random(7), seeds[1].files)
    kinds = ",".join(FUZZ.FAST_KINDS)
    assert FUZZ.main(["--runs", "20", "--no-memory", "--kinds", kinds, "--crashes", str(tmp_path / "crashes")]) == 0
