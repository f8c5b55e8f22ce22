"""The `mnist_csv` format as a user sees it: every dialect on real digits, round trips, the built-in's
files and tests, the CLI both ways, and each kind of bad input with its message."""

import json
import os
import os.path as osp

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datumaro.components.annotation import Label
from datumaro.components.dataset import Dataset, StreamDataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatasetExportError, DatumaroError
from datumaro.components.media import Image
from datumaro.plugins.data_formats.mnist_csv import MnistCsvBase as BuiltinMnistCsvBase
from datumaro.plugins.data_formats.mnist_csv import MnistCsvExporter as BuiltinMnistCsvExporter

from datumaro_mnist_plugins.codecs import idx
from datumaro_mnist_plugins.mnist_csv import MnistCsvExporter

from .conftest import DIGITS, assert_same_items, collecting_policy, digits_dataset, error_text, label_names, run_datum

PIXELS = 28 * 28


def round_trip(dataset, path, exporter=MnistCsvExporter, **options):
    exporter.convert(dataset, str(path), **options)
    return Dataset.import_from(str(path), "mnist_csv")


def csv_row(label, pixels=0, count=PIXELS) -> bytes:
    return ",".join([str(label)] + [str(pixels)] * count).encode() + b"\n"


# --- the files themselves (the built-in's own test cases are in test_builtin_compat.py) -------------------


def test_one_file_per_subset_and_labels_txt(tmp_path):
    source = Dataset.from_iterable(
        [
            DatasetItem(id=0, subset="test", media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(0)]),
            DatasetItem(id=0, subset="train", media=Image.from_numpy(data=np.ones((28, 28))), annotations=[Label(5)]),
        ],
        categories=DIGITS,
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=True))
    assert sorted(os.listdir(tmp_path)) == ["labels.txt", "mnist_test.csv", "mnist_train.csv"]


def test_without_images_rows_hold_the_label_only(tmp_path):
    source = Dataset.from_iterable(
        [DatasetItem(id=0, subset="train", annotations=[Label(0)]), DatasetItem(id=1, subset="train", annotations=[Label(1)])],
        categories=DIGITS,
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=False))
    assert (tmp_path / "mnist_train.csv").read_bytes() == b"0\n1\n"


def test_a_header_of_unsized_columns_takes_the_sizes_from_the_sidecar(tmp_path):
    (tmp_path / "mnist_test.csv").write_bytes(b"a,b,c,d\n1,2,3,4\n5,6,7,8\n")
    (tmp_path / "meta_test.csv").write_bytes(b"2,2\n1,4\n")
    items = list(Dataset.import_from(str(tmp_path), "mnist_csv"))
    assert [item.media.data.tolist() for item in items] == [[[1, 2], [3, 4]], [[5, 6, 7, 8]]]
    assert not any(item.annotations for item in items)


@pytest.mark.parametrize("header", [b"", b"label\n"])
def test_a_label_column_alone_gives_items_without_images(tmp_path, header):
    (tmp_path / "mnist_train.csv").write_bytes(header + b"3\n5\n")
    items = list(Dataset.import_from(str(tmp_path), "mnist_csv"))
    assert [(item.media, [ann.label for ann in item.annotations]) for item in items] == [(None, [3]), (None, [5])]


def test_other_image_sizes_go_in_the_sidecar(tmp_path):
    source = Dataset.from_iterable(
        [
            DatasetItem(id=0, media=Image.from_numpy(data=np.ones((3, 4))), annotations=[Label(0)]),
            DatasetItem(id=1, media=Image.from_numpy(data=np.ones((2, 2))), annotations=[Label(1)]),
        ],
        categories=DIGITS,
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=True))
    assert (tmp_path / "meta_default.csv").read_text() == "3,4\n2,2\n"


# --- compatibility with the built-in's files, both ways -----------------------------------------------------

BUILTIN_CASES = {
    "ids": [DatasetItem(id="a", annotations=[Label(3)]), DatasetItem(id="b", annotations=[Label(4)])],
    "sizes": [
        DatasetItem(id=0, media=Image.from_numpy(data=np.full((5, 7), 9, np.uint8)), annotations=[Label(0)]),
        DatasetItem(id=1, media=Image.from_numpy(data=np.ones((28, 28), np.uint8)), annotations=[Label(1)]),
    ],
    "ids-and-sizes": [
        DatasetItem(id="x", media=Image.from_numpy(data=np.full((5, 7), 9, np.uint8)), annotations=[Label(0)]),
        DatasetItem(id="y y", media=Image.from_numpy(data=np.ones((28, 28), np.uint8)), annotations=[Label(1)]),
    ],
    "unlabeled": [
        DatasetItem(id=0, media=Image.from_numpy(data=np.arange(784).reshape(28, 28).astype(np.uint8))),
        DatasetItem(id=1, media=Image.from_numpy(data=np.full((28, 28), 255, np.uint8)), annotations=[Label(9)]),
    ],
    "uniform-other-size": [
        DatasetItem(id=i, media=Image.from_numpy(data=np.full((32, 20), i, np.uint8)), annotations=[Label(i)])
        for i in range(3)
    ],
}


@pytest.mark.parametrize("case", sorted(BUILTIN_CASES))
def test_datasets_written_by_the_builtin_open_unchanged(tmp_path, case):
    source = Dataset.from_iterable(BUILTIN_CASES[case], categories=DIGITS)
    assert_same_items(source, round_trip(source, tmp_path, exporter=BuiltinMnistCsvExporter, save_media=True))


@pytest.mark.parametrize("case", sorted(BUILTIN_CASES))
def test_we_write_the_same_bytes_as_the_builtin(tmp_path, case):
    source = Dataset.from_iterable(BUILTIN_CASES[case], categories=DIGITS)
    BuiltinMnistCsvExporter.convert(source, str(tmp_path / "builtin"), save_media=True)
    MnistCsvExporter.convert(source, str(tmp_path / "ours"), save_media=True)
    names = sorted(os.listdir(tmp_path / "builtin"))
    assert sorted(os.listdir(tmp_path / "ours")) == names
    for name in names:
        assert (tmp_path / "ours" / name).read_bytes() == (tmp_path / "builtin" / name).read_bytes(), name


def test_builtin_written_items_without_images_are_label_only_rows(tmp_path):
    source = Dataset.from_iterable(
        [
            DatasetItem(id=0, media=Image.from_numpy(data=np.ones((28, 28), np.uint8)), annotations=[Label(1)]),
            DatasetItem(id=1, annotations=[Label(2)]),
            DatasetItem(id=2),
        ],
        categories=DIGITS,
    )
    assert_same_items(source, round_trip(source, tmp_path, exporter=BuiltinMnistCsvExporter, save_media=True))
    assert (tmp_path / "mnist_default.csv").read_text().splitlines()[1:] == ["2", "-1"]


def test_the_builtin_reads_what_we_write(tmp_path):
    source = Dataset.from_iterable(BUILTIN_CASES["ids-and-sizes"] + BUILTIN_CASES["unlabeled"][:1], categories=DIGITS)
    MnistCsvExporter.convert(source, str(tmp_path), save_media=True)
    items = list(BuiltinMnistCsvBase(str(tmp_path / "mnist_default.csv")))
    assert [item.id for item in items] == ["x", "y y", "0"]
    assert [[a.label for a in item.annotations] for item in items] == [[0], [1], []]
    assert items[0].media.data.shape == (5, 7)


# --- real digits: every dialect, round trips ---------------------------------------------------------------


@pytest.fixture(scope="module")
def real(real_test_digits, tmp_path_factory):
    """The 5,000 real digits as arrays, and as the headerless CSV our exporter writes."""
    images = idx.read_idx(osp.join(real_test_digits, "t10k-images-idx3-ubyte.gz"))
    labels = idx.read_idx(osp.join(real_test_digits, "t10k-labels-idx1-ubyte.gz"))
    folder = tmp_path_factory.mktemp("real-csv")
    Dataset.import_from(real_test_digits, "mnist").export(str(folder), "mnist_csv", save_media=True)
    return images, labels, str(folder)


def items_in_order(dataset, subset):
    return sorted(dataset.get_subset(subset), key=lambda item: int(item.id))


def assert_digits(dataset, subset, images, labels, labeled=True):
    items = items_in_order(dataset, subset)
    assert len(items) == len(images)
    assert np.array_equal(np.stack([item.media.data for item in items]), images)
    if labeled:
        assert [item.annotations[0].label for item in items] == labels.tolist()
    else:
        assert all(not item.annotations for item in items)


def test_real_digits_export_the_original_mnist_in_csv_rows(real):
    images, labels, folder = real
    lines = open(osp.join(folder, "mnist_test.csv"), "rb").read().split(b"\n")
    assert len(lines) == 5001 and lines[-1] == b""  # one row per image, each ending with a newline
    first = np.array(lines[0].split(b","), dtype=np.int64)
    assert first[0] == labels[0] == 7 and np.array_equal(first[1:], images[0].reshape(-1))
    assert sorted(os.listdir(folder)) == ["labels.txt", "mnist_test.csv"]  # no sidecar: ids 0.. and 28x28


def test_real_digits_round_trip_exactly_as_views_of_one_array(real):
    images, labels, folder = real
    dataset = Dataset.import_from(folder, "mnist_csv")
    assert_digits(dataset, "test", images, labels)
    first, second = dataset.get("0", "test").media.data, dataset.get("1", "test").media.data
    assert first.dtype == np.uint8
    assert first.base is not None and first.base is second.base, "images must be views of one array"


def header_file(folder, name, header, body_lines):
    with open(osp.join(folder, name), "wb") as f:
        if header is not None:
            f.write(",".join(header).encode() + b"\r\n")
        f.write(b"\r\n".join(body_lines) + b"\r\n\r\n")  # Windows line ends and a trailing blank line


@pytest.mark.parametrize(
    "header",
    [["label"] + [f"pixel{i}" for i in range(PIXELS)], ["label"] + [f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)]],
    ids=["label-pixel0", "label-1x1"],
)
def test_kaggle_dialects_with_a_header_and_a_label_column(real, tmp_path, header):
    images, labels, folder = real
    body = open(osp.join(folder, "mnist_test.csv"), "rb").read().splitlines()
    header_file(tmp_path, "kaggle-mnist_train.csv", header, body)
    assert_digits(Dataset.import_from(str(tmp_path), "mnist_csv"), "train", images, labels)


def test_kaggle_test_dialect_pixels_only_gives_unlabeled_items(real, tmp_path):
    images, labels, folder = real
    body = [line.split(b",", 1)[1] for line in open(osp.join(folder, "mnist_test.csv"), "rb").read().splitlines()]
    header_file(tmp_path, "fashion-mnist_test.csv", [f"pixel{i}" for i in range(PIXELS)], body)
    dataset = Dataset.import_from(str(tmp_path), "mnist_csv")
    assert_digits(dataset, "test", images, labels, labeled=False)


def test_mnist_to_mnist_csv_to_mnist_gives_back_the_idx_bytes(real_test_digits, real, tmp_path):
    _, _, folder = real
    Dataset.import_from(folder, "mnist_csv").export(str(tmp_path), "mnist", save_media=True)
    for name in os.listdir(real_test_digits):
        with idx.open_binary(osp.join(real_test_digits, name)) as a, idx.open_binary(str(tmp_path / name)) as b:
            assert a.read() == b.read(), name


def test_streaming_import_and_export(real, tmp_path):
    images, labels, folder = real
    stream = StreamDataset.import_from(folder, "mnist_csv")
    assert stream.is_stream
    stream.export(str(tmp_path), "mnist_csv", save_media=True)
    assert (tmp_path / "mnist_test.csv").read_bytes() == open(osp.join(folder, "mnist_test.csv"), "rb").read()


# --- the CLI both ways ---------------------------------------------------------------------------------------


def test_cli_converts_mnist_to_mnist_csv_and_back_byte_exact(real_test_digits, tmp_path):
    run_datum("convert", "-if", "mnist", "-i", real_test_digits, "-f", "mnist_csv", "-o", str(tmp_path / "csv"), "--", "--save-media")
    assert sorted(os.listdir(tmp_path / "csv")) == ["labels.txt", "mnist_test.csv"]
    run_datum("convert", "-i", str(tmp_path / "csv"), "-f", "mnist", "-o", str(tmp_path / "idx"), "--", "--save-media")
    for name in os.listdir(real_test_digits):
        with idx.open_binary(osp.join(real_test_digits, name)) as a, idx.open_binary(str(tmp_path / "idx" / name)) as b:
            assert a.read() == b.read(), name


# --- categories and exporter options ---------------------------------------------------------------------------


def test_categories_meta_file_wins_over_labels_txt_which_wins_over_digits(tmp_path):
    (tmp_path / "mnist_train.csv").write_bytes(b"0\n1\n2\n")
    assert label_names(Dataset.import_from(str(tmp_path), "mnist_csv")) == list("0123456789")
    (tmp_path / "labels.txt").write_bytes("\ufeffcat\r\n\r\ndog\r\nbird\r\n".encode())
    assert label_names(Dataset.import_from(str(tmp_path), "mnist_csv")) == ["cat", "dog", "bird"]
    (tmp_path / "dataset_meta.json").write_text(json.dumps({"labels": ["a", "b", "c", "d"]}))
    assert label_names(Dataset.import_from(str(tmp_path), "mnist_csv")) == ["a", "b", "c", "d"]




def test_save_media_off_writes_the_label_column_only_and_save_dataset_meta(tmp_path):
    digits_dataset().export(str(tmp_path), "mnist_csv", save_dataset_meta=True)
    assert sorted(os.listdir(tmp_path)) == ["dataset_meta.json", "labels.txt", "mnist_test.csv", "mnist_train.csv"]
    assert all(line.isdigit() for line in (tmp_path / "mnist_train.csv").read_text().splitlines())
    assert json.loads((tmp_path / "dataset_meta.json").read_text())["labels"] == list("0123456789")


def test_image_ext_writes_viewable_images_that_serve_label_only_rows(tmp_path):
    source = digits_dataset(subsets=("train",))
    source.export(str(tmp_path), "mnist_csv", save_media=True, image_ext=".png")
    assert sorted(os.listdir(tmp_path / "images" / "train")) == ["0.png", "1.png", "2.png"]
    lines = (tmp_path / "mnist_train.csv").read_text().splitlines()
    (tmp_path / "mnist_train.csv").write_text("".join(line.split(",")[0] + "\n" for line in lines))
    assert_same_items(source, Dataset.import_from(str(tmp_path), "mnist_csv"))


def test_mixed_sizes_and_missing_images_round_trip(tmp_path):
    source = Dataset.from_iterable(
        [
            DatasetItem(id="0", media=Image.from_numpy(data=np.full((3, 5), 7, np.uint8)), annotations=[Label(1)]),
            DatasetItem(id="1", annotations=[Label(2)]),
            DatasetItem(id="2", media=Image.from_numpy(data=np.full((28, 28), 9, np.uint8))),
        ],
        categories=DIGITS,
    )
    assert_same_items(source, round_trip(source, tmp_path, save_media=True))


def test_a_failed_export_leaves_the_earlier_export_as_it_was(tmp_path):
    out = tmp_path / "out"
    digits_dataset().export(str(out), "mnist_csv", save_media=True)
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}
    bad = Dataset.from_iterable(
        [DatasetItem(id="too-bright", subset="b", media=Image.from_numpy(data=np.full((28, 28), 300.0)))],
        categories=DIGITS,
    )
    with pytest.raises(DatasetExportError, match="too-bright"):
        bad.export(str(out), "mnist_csv", save_media=True)
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before


# --- bad input: a Datumaro error naming the file and the line, or skipped through the error policy ------------

BAD_ROWS = {
    "ragged": (csv_row(3, count=PIXELS - 1), ["784 values"]),
    "not a number": (csv_row(3).replace(b",0,", b",x7,", 1), ["x7"]),
    "above 255": (csv_row(3).replace(b",0,", b",256,", 1), ["256"]),
    "negative pixel": (csv_row(3).replace(b",0,", b",-5,", 1), ["-5"]),
    "empty value": (csv_row(3).replace(b",0,", b",,", 1), []),
    "no size explains the length": (csv_row(3, count=100), ["101 values"]),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_a_bad_row_is_an_error_naming_the_file_and_the_line(tmp_path, case):
    row, details = BAD_ROWS[case]
    (tmp_path / "mnist_train.csv").write_bytes(csv_row(7) + row + csv_row(1))
    with pytest.raises(DatumaroError) as info:
        list(Dataset.import_from(str(tmp_path), "mnist_csv"))
    text = error_text(info.value)
    assert "mnist_train.csv" in text and "line 2" in text, text
    for detail in details:
        assert detail in text, text


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_a_bad_row_can_be_skipped_through_the_error_policy(tmp_path, case):
    row, _ = BAD_ROWS[case]
    (tmp_path / "mnist_train.csv").write_bytes(csv_row(7) + row + csv_row(1))
    policy = collecting_policy()
    dataset = Dataset.import_from(str(tmp_path), "mnist_csv", error_policy=policy)
    assert sorted(item.id for item in dataset) == ["0", "2"]  # the others keep their row numbers as ids
    assert len(policy.errors) == 1 and "line 2" in error_text(policy.errors[0])


def test_line_numbers_count_the_header(tmp_path):
    header = ",".join(["label"] + [f"pixel{i}" for i in range(PIXELS)]).encode() + b"\n"
    (tmp_path / "mnist_train.csv").write_bytes(header + csv_row(7) + csv_row(3).replace(b",0,", b",x,", 1))
    with pytest.raises(DatumaroError) as info:
        list(Dataset.import_from(str(tmp_path), "mnist_csv"))
    assert "line 3" in error_text(info.value)


def test_label_outside_categories_is_an_error_or_dropped_through_the_policy(tmp_path):
    (tmp_path / "mnist_train.csv").write_bytes(csv_row(0) + csv_row(7) + csv_row(1))
    (tmp_path / "labels.txt").write_text("a\nb\n")
    with pytest.raises(DatumaroError) as info:
        list(Dataset.import_from(str(tmp_path), "mnist_csv"))
    assert "mnist_train.csv" in error_text(info.value) and "line 2" in error_text(info.value)
    assert "label 7" in error_text(info.value)
    policy = collecting_policy()
    dataset = Dataset.import_from(str(tmp_path), "mnist_csv", error_policy=policy)
    assert [len(item.annotations) for item in items_in_order(dataset, "train")] == [1, 0, 1]
    assert len(policy.errors) == 1


def test_a_header_of_the_wrong_width_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "mnist_train.csv").write_bytes(b"label,a,b\n" + csv_row(7))
    with pytest.raises(DatumaroError) as info:
        Dataset.import_from(str(tmp_path), "mnist_csv")
    assert "mnist_train.csv" in error_text(info.value) and "line 1" in error_text(info.value)


def test_file_names_give_the_subset_and_sidecars_are_no_data(tmp_path):
    (tmp_path / "fashion-mnist_test.csv").write_bytes(csv_row(1) + csv_row(2))
    (tmp_path / "mnist_val.csv").write_bytes(csv_row(3))
    (tmp_path / "meta_val.csv").write_text("first\n")
    (tmp_path / "notes.csv").write_text("not,ours\n")
    dataset = Dataset.import_from(str(tmp_path), "mnist_csv")
    assert sorted((item.subset, item.id) for item in dataset) == [("test", "0"), ("test", "1"), ("val", "first")]


# --- more bad input, exact messages, odd layouts ---------------------------------------------------------------


def import_error(folder):
    with pytest.raises(DatumaroError) as info:
        list(Dataset.import_from(str(folder), "mnist_csv"))
    return error_text(info.value)


def text_row(label=3, pixel=0, count=PIXELS):
    return csv_row(label, pixel, count).decode().rstrip("\n")


@pytest.mark.parametrize(
    "bad_row, message",
    [
        (text_row(count=500), "line 2: 501 values; expected a label and 784 pixels (785 values), or a label alone"),
        (text_row().replace(",0,", ",x,", 1), "line 2, column 2: 'x' is not a pixel value 0..255"),
        (text_row().replace(",0,", ",0.5,", 1), "line 2, column 2: '0.5' is not a pixel value 0..255"),
        (text_row() + ",256", "line 2, column 786: '256' is not a pixel value 0..255"),
        (text_row().replace(",0,", ",,", 1), "line 2, column 2: '' is not a pixel value 0..255"),
        ("seven," + text_row()[2:], "line 2, column 1: label 'seven' is not a class index"),
    ],
    ids=["ragged", "not-a-number", "float", "above-255", "empty", "label"],
)
def test_a_bad_row_message_names_the_file_line_and_column(tmp_path, bad_row, message):
    (tmp_path / "mnist_train.csv").write_text("\n".join([text_row(), bad_row, text_row()]) + "\n")
    text = import_error(tmp_path)
    assert f"mnist_train.csv: {message}" in text, text


def test_rows_of_another_size_need_a_sidecar_or_a_header_that_names_it(tmp_path):
    (tmp_path / "mnist_train.csv").write_text(f"{text_row(count=256)}\n{text_row(count=256)}\n")
    text = import_error(tmp_path)
    assert "line 1: 257 values" in text and "meta_train.csv" in text
    (tmp_path / "meta_train.csv").write_text("16,16\n16,16\n")
    assert [item.media.data.shape for item in Dataset.import_from(str(tmp_path), "mnist_csv")] == [(16, 16)] * 2
    (tmp_path / "meta_train.csv").write_text("a\nb\nc\n")
    assert "meta_train.csv: 3 rows for the 2 rows" in import_error(tmp_path)
    os.remove(tmp_path / "meta_train.csv")
    header = ",".join(["label"] + [f"{r}x{c}" for r in range(1, 9) for c in range(1, 33)])
    (tmp_path / "mnist_train.csv").write_text(f"{header}\n{text_row(count=256)}\n")
    assert Dataset.import_from(str(tmp_path), "mnist_csv").get("0", "train").media.data.shape == (8, 32)


def test_skipped_rows_keep_the_ids_and_line_numbers_of_the_others(tmp_path):
    rows = [text_row(1), text_row(count=3), text_row(9), "x", "", text_row(0, pixel=300), text_row(2), "-1"]
    (tmp_path / "mnist_train.csv").write_text("\n".join(rows))  # a blank line and no final newline
    (tmp_path / "labels.txt").write_text("a\nb\nc\n")
    policy = collecting_policy()
    items = list(Dataset.import_from(str(tmp_path), "mnist_csv", error_policy=policy))
    # the blank line is no row; ids are data-row indices; "-1" alone: no label, no image
    assert [(item.id, [a.label for a in item.annotations], item.media is None) for item in items] == [
        ("0", [1], False), ("2", [], False), ("5", [2], False), ("6", [], True),
    ]  # fmt: skip
    lines = [error_text(error).split("mnist_train.csv: ")[1][:6] for error in policy.errors]
    assert lines == ["line 2", "line 3", "line 4", "line 6"]


def test_subset_names_with_underscores_round_trip(tmp_path):
    source = digits_dataset(count=2, subsets=("my_val", "train"))
    assert_same_items(source, round_trip(source, tmp_path, save_media=True))
    assert sorted(os.listdir(tmp_path)) == ["labels.txt", "mnist_my_val.csv", "mnist_train.csv"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(0, 9)),
            st.one_of(st.none(), st.tuples(st.integers(1, 30), st.integers(1, 30), st.integers(0, 2**32 - 1))),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_any_labels_sizes_and_pixel_values_round_trip(tmp_path_factory, rows):
    items = []
    for i, (label, image) in enumerate(rows):
        pixels = None if image is None else np.random.default_rng(image[2]).integers(0, 256, image[:2], dtype=np.uint8)
        items.append(
            DatasetItem(
                id=str(i),
                media=None if pixels is None else Image.from_numpy(data=pixels),
                annotations=[] if label is None else [Label(label)],
            )
        )
    source = Dataset.from_iterable(items, categories=DIGITS)
    assert_same_items(source, round_trip(source, tmp_path_factory.mktemp("rt"), save_media=True))


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="0123456789,-\n\r x\"", max_size=60))
def test_any_text_gives_items_or_a_datumaro_error(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "mnist_train.csv").write_text(text, newline="")
    try:
        list(Dataset.import_from(str(folder), "mnist_csv"))
    except DatumaroError:
        pass
