"""The MNIST family in the `mnist` format: compression, torchvision folders, Fashion, KMNIST, EMNIST, QMNIST.

Fixtures are built from the real files in ../shared/data: real digits transposed into an EMNIST file,
the real QMNIST extended labels paired with the real MNIST test images they describe.
"""

import gzip
import lzma
import os
import os.path as osp

import numpy as np
import pytest

from datumaro.components.annotation import AnnotationType, Label, LabelCategories
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.environment import Environment
from datumaro.components.errors import DatasetExportError, DatumaroError
from datumaro.components.media import Image

from datumaro_mnist_plugins import family

from datumaro_mnist_plugins.codecs import idx
from datumaro_mnist_plugins.mnist import MnistImporter

from .conftest import assert_same_items, decompressed, error_text

COUNT = 300  # digits per fixture subset: enough to be real, small enough to keep the file fast
IMAGES, LABELS, EXTENDED = "images-idx3-ubyte", "labels-idx1-ubyte", "labels-idx2-int"


@pytest.fixture(scope="module")
def real(shared_data):
    """The real MNIST test digits and labels, and QMNIST's extended rows for the same digits."""
    images = np.asarray(idx.read_idx(osp.join(shared_data, "mnist-dev", "t10k-images-idx3-ubyte.gz")))
    labels = np.asarray(idx.read_idx(osp.join(shared_data, "mnist-dev", "t10k-labels-idx1-ubyte.gz")))
    qmnist = np.asarray(idx.read_idx(osp.join(shared_data, "qmnist", "qmnist-test-labels-idx2-int.gz")))
    assert np.array_equal(qmnist[: len(labels), 0], labels)  # QMNIST's test rows start with MNIST's test set
    return images, labels, qmnist


def write(folder, prefix, images=None, labels=None, suffix=".gz", labels_kind=LABELS):
    os.makedirs(folder, exist_ok=True)
    if images is not None:
        idx.write_idx(osp.join(folder, f"{prefix}-{IMAGES}{suffix}"), images)
    if labels is not None:
        idx.write_idx(osp.join(folder, f"{prefix}-{labels_kind}{suffix}"), labels)


def mnist_folder(folder, real, suffix=".gz", train=slice(0, COUNT), test=slice(COUNT, 2 * COUNT)):
    images, labels, _ = real
    write(folder, "train", images[train], labels[train], suffix)
    write(folder, "t10k", images[test], labels[test], suffix)
    return str(folder)


def names(dataset):
    return [c.name for c in dataset.categories()[AnnotationType.label]]


def label_name(dataset, item):
    return names(dataset)[item.annotations[0].label]


# --- compression -----------------------------------------------------------------------------------------


def test_raw_gz_xz_and_bz2_files_read_the_same(real, tmp_path):
    suffixes = ("", ".gz", ".xz", ".bz2")
    datasets = [Dataset.import_from(mnist_folder(tmp_path / (s or "raw"), real, s), "mnist") for s in suffixes]
    assert len(datasets[0]) == 2 * COUNT
    for other in datasets[1:]:
        assert_same_items(datasets[0], other)


def test_a_file_kept_raw_and_compressed_is_imported_once(real, tmp_path):
    for suffix in ("", ".gz", ".xz", ".bz2"):
        mnist_folder(tmp_path, real, suffix)
    dataset = Dataset.import_from(str(tmp_path), "mnist")
    assert sorted(dataset.subsets()) == ["test", "train"] and len(dataset) == 2 * COUNT
    assert len(MnistImporter.find_sources(str(tmp_path))) == 2


# --- torchvision's download folders ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def torchvision_root(real, tmp_path_factory):
    """root/<Dataset>/raw as torchvision leaves it: every file raw and compressed side by side."""
    images, labels, qmnist = real
    root = tmp_path_factory.mktemp("torchvision")
    for dataset in ("MNIST", "FashionMNIST", "KMNIST"):
        for suffix in ("", ".gz"):
            mnist_folder(root / dataset / "raw", real, suffix)
    for suffix in ("", ".gz"):
        write(root / "QMNIST" / "raw", "qmnist-test", images[:COUNT], qmnist[:COUNT], suffix, EXTENDED)
        write(root / "EMNIST" / "raw", "emnist-digits-train", images[:COUNT].transpose(0, 2, 1), labels[:COUNT], suffix)
    (root / "MNIST" / "processed").mkdir()  # what older torchvision versions leave: no IDX files
    return str(root)


def test_one_torchvision_folder_keeps_its_subset_names_and_gets_its_class_names(torchvision_root, real):
    _, labels, _ = real
    dataset = Dataset.import_from(osp.join(torchvision_root, "FashionMNIST"), "mnist")
    assert sorted(dataset.subsets()) == ["test", "train"] and len(dataset) == 2 * COUNT
    assert names(dataset) == family.FASHION
    assert label_name(dataset, dataset.get("0", "train")) == family.FASHION[labels[0]]
    kmnist = Dataset.import_from(osp.join(torchvision_root, "KMNIST", "raw"), "mnist")
    assert names(kmnist) == list("おきすつなはまやれを")


def test_several_torchvision_datasets_under_one_root_are_kept_apart(torchvision_root, real):
    images, labels, _ = real
    dataset = Dataset.import_from(torchvision_root, "mnist")
    assert sorted(dataset.subsets()) == [
        "EMNIST-train",
        "FashionMNIST-test",
        "FashionMNIST-train",
        "KMNIST-test",
        "KMNIST-train",
        "MNIST-test",
        "MNIST-train",
        "QMNIST-test",
    ]
    assert len(dataset) == 8 * COUNT  # raw and .gz side by side: each subset once
    # one category list: every dataset's names, each once (MNIST, QMNIST and EMNIST digits share "0".."9")
    assert names(dataset) == family.DIGITS + family.FASHION + family.KMNIST
    for subset, classes in (("MNIST-train", family.DIGITS), ("FashionMNIST-train", family.FASHION),
                            ("KMNIST-train", family.KMNIST), ("EMNIST-train", family.DIGITS)):
        item = dataset.get("7", subset)
        assert label_name(dataset, item) == classes[labels[7]], subset
        assert np.array_equal(item.media.data, images[7]), subset  # EMNIST's too: upright
    qmnist_item = dataset.get("3", "QMNIST-test")
    assert label_name(dataset, qmnist_item) == str(labels[3]) and qmnist_item.annotations[0].attributes


def test_datasets_at_different_depths_are_all_found_but_not_inside_a_dataset_folder(real, tmp_path):
    mnist_folder(tmp_path / "mnist", real)
    mnist_folder(tmp_path / "more" / "fashion", real)
    mnist_folder(tmp_path / "mnist" / "backup", real)  # inside a dataset folder: not another dataset
    dataset = Dataset.import_from(str(tmp_path), "mnist")
    assert sorted(dataset.subsets()) == ["mnist-test", "mnist-train", "more-fashion-test", "more-fashion-train"]
    assert names(dataset) == family.DIGITS + family.FASHION  # Zalando's data/fashion folder name


def test_the_split_option_applies_under_a_root(real, tmp_path):
    images, labels, _ = real
    mnist_folder(tmp_path / "MNIST" / "raw", real)
    stored = images[:COUNT].transpose(0, 2, 1)
    for split in ("digits", "letters"):
        write(tmp_path / "EMNIST" / "raw", f"emnist-{split}-test", stored, labels[:COUNT] + 1)
    with pytest.raises(DatumaroError) as error:
        Dataset.import_from(str(tmp_path), "mnist")
    assert "EMNIST/raw: holds the EMNIST splits digits, letters" in error_text(error.value)
    dataset = Dataset.import_from(str(tmp_path), "mnist", split="letters")
    assert sorted(dataset.subsets()) == ["EMNIST-test", "MNIST-test", "MNIST-train"]
    assert names(dataset) == family.EMNIST["letters"] + family.DIGITS
    assert label_name(dataset, dataset.get("0", "EMNIST-test")) == family.EMNIST["letters"][labels[0] + 1]
    assert label_name(dataset, dataset.get("0", "MNIST-train")) == str(labels[0])


def test_a_torchvision_root_round_trips_through_export(torchvision_root, tmp_path):
    source = Dataset.import_from(torchvision_root, "mnist")
    source.export(str(tmp_path), "mnist", save_media=True)
    assert osp.isfile(tmp_path / "FashionMNIST-train-images-idx3-ubyte.gz")
    assert osp.isfile(tmp_path / "QMNIST-test-labels-idx2-int.gz")
    assert_same_items(source, Dataset.import_from(str(tmp_path), "mnist"))


# --- Fashion-MNIST and KMNIST class names ---------------------------------------------------------------


def test_fashion_names_come_from_labels_txt_or_dataset_meta(real, tmp_path):
    folder = mnist_folder(tmp_path, real)
    (tmp_path / "labels.txt").write_text("\n".join(family.FASHION) + "\n", encoding="utf-8")
    assert names(Dataset.import_from(folder, "mnist")) == family.FASHION
    (tmp_path / "dataset_meta.json").write_text('{"labels": ["%s"]}' % '", "'.join(n.upper() for n in family.FASHION))
    assert names(Dataset.import_from(folder, "mnist")) == [n.upper() for n in family.FASHION]


def test_kmnist_classmap_names_the_classes(real, tmp_path):
    folder = mnist_folder(tmp_path / "anywhere", real)
    rows = ["index,codepoint,char"] + [f"{i},U+{ord(c):04X},{c}" for i, c in enumerate(family.KMNIST)]
    (tmp_path / "anywhere" / "kmnist_classmap.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    dataset = Dataset.import_from(folder, "mnist")
    assert names(dataset) == list("おきすつなはまやれを")
    _, labels, _ = real
    assert label_name(dataset, dataset.get("0", "train")) == "おきすつなはまやれを"[labels[0]]


def test_a_broken_kmnist_classmap_is_an_error_naming_file_and_line(real, tmp_path):
    folder = mnist_folder(tmp_path, real)
    classmap = "index,codepoint,char\n0,U+304A,お\nx,U+304D,き\n"
    (tmp_path / "kmnist_classmap.csv").write_text(classmap, encoding="utf-8")
    with pytest.raises(DatumaroError) as error:
        Dataset.import_from(folder, "mnist")
    assert "kmnist_classmap.csv: line 3" in error_text(error.value)


# --- EMNIST ----------------------------------------------------------------------------------------------


def mapping_text(split):
    """A mapping file in EMNIST's format: letters classes carry the upper and the lower case code."""
    lines = []
    for label, name in enumerate(family.EMNIST[split]):
        if not name.startswith("unused"):
            lines.append(" ".join([str(label)] + [str(ord(c)) for c in name]))
    return "\n".join(lines) + "\n"


@pytest.fixture
def emnist_folder(real, tmp_path):
    """Real digits stored the EMNIST way (transposed), two splits in one folder, with their mappings."""
    images, labels, _ = real
    stored = images[: 2 * COUNT].transpose(0, 2, 1)
    write(tmp_path, "emnist-digits-train", stored[:COUNT], labels[:COUNT])
    write(tmp_path, "emnist-digits-test", stored[COUNT:], labels[COUNT : 2 * COUNT])
    write(tmp_path, "emnist-letters-train", stored[:COUNT], labels[:COUNT] + 1)  # letters are 1..26
    for split in ("digits", "letters"):
        (tmp_path / f"emnist-{split}-mapping.txt").write_text(mapping_text(split))
    return str(tmp_path)


def test_emnist_items_come_out_upright_as_views(emnist_folder, real):
    images, labels, _ = real
    dataset = Dataset.import_from(emnist_folder, "mnist", split="digits")
    assert sorted(dataset.subsets()) == ["test", "train"]
    for subset, offset in (("train", 0), ("test", COUNT)):
        for i in (0, 1, COUNT - 1):
            item = dataset.get(str(i), subset)
            assert np.array_equal(item.media.data, images[offset + i])
            assert item.annotations[0].label == labels[offset + i]
    first, second = (dataset.get(str(i), "train").media.data for i in (0, 1))
    assert np.shares_memory(first, second) or (first.base is not None and first.base is second.base)


def test_emnist_mapping_names_the_classes_letters_with_both_cases(emnist_folder, real):
    _, labels, _ = real
    letters = Dataset.import_from(emnist_folder, "mnist", split="letters")
    assert names(letters)[:3] == ["unused-0", "Aa", "Bb"] and len(names(letters)) == 27
    assert label_name(letters, letters.get("0", "train")) == "ABCDEFGHIJ"[labels[0]] + "abcdefghij"[labels[0]]
    assert names(Dataset.import_from(emnist_folder, "mnist", split="digits")) == family.DIGITS


@pytest.mark.parametrize("split", sorted(family.EMNIST))
def test_known_split_names_equal_what_the_mapping_file_gives(tmp_path, split):
    (tmp_path / f"emnist-{split}-mapping.txt").write_text(mapping_text(split))
    assert family.label_names(str(tmp_path), split) == family.EMNIST[split]
    assert family.label_names(str(tmp_path / "nowhere"), split) == family.EMNIST[split]  # torchvision: no file


def test_several_emnist_splits_need_a_choice(emnist_folder):
    with pytest.raises(DatumaroError) as error:
        Dataset.import_from(emnist_folder, "mnist")
    message = error_text(error.value)
    assert "digits, letters" in message and "split=" in message
    with pytest.raises(DatumaroError) as error:
        Dataset.import_from(emnist_folder, "mnist", split="balanced")
    assert "no EMNIST split 'balanced'" in error_text(error.value) and "digits, letters" in error_text(error.value)
    # detection needs no choice: it is MNIST-family data either way
    assert Environment().detect_dataset(emnist_folder) == ["mnist"]


def test_one_emnist_file_opens_alone_and_an_emnist_export_is_classic_and_upright(emnist_folder, real, tmp_path):
    images, _, _ = real
    single = Dataset.import_from(osp.join(emnist_folder, "emnist-letters-train-images-idx3-ubyte.gz"), "mnist")
    assert list(single.subsets()) == ["train"] and np.array_equal(single.get("5", "train").media.data, images[5])
    source = Dataset.import_from(emnist_folder, "mnist", split="letters")
    out = tmp_path / "out"
    source.export(str(out), "mnist", save_media=True)
    assert sorted(os.listdir(out)) == ["labels.txt", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert np.array_equal(idx.read_idx(str(out / "train-images-idx3-ubyte.gz")), images[:COUNT])
    assert_same_items(source, Dataset.import_from(str(out), "mnist"))


def test_a_broken_emnist_mapping_is_an_error_naming_file_and_line(emnist_folder):
    with open(osp.join(emnist_folder, "emnist-digits-mapping.txt"), "a") as f:
        f.write("10 x\n")
    with pytest.raises(DatumaroError) as error:
        Dataset.import_from(emnist_folder, "mnist", split="digits")
    assert "emnist-digits-mapping.txt: line 11" in error_text(error.value)


# --- QMNIST ----------------------------------------------------------------------------------------------


@pytest.fixture
def qmnist_folder(real, tmp_path):
    """The real QMNIST extended labels of the first real MNIST test digits, with those digits."""
    images, _, qmnist = real
    write(tmp_path, "qmnist-test", images[:COUNT], qmnist[:COUNT], labels_kind=EXTENDED)
    return str(tmp_path)


def test_qmnist_extended_columns_arrive_as_named_label_attributes(qmnist_folder, real):
    images, labels, qmnist = real
    dataset = Dataset.import_from(qmnist_folder, "mnist")
    assert list(dataset.subsets()) == ["test"] and names(dataset) == family.DIGITS
    item = dataset.get("0", "test")
    assert item.annotations[0].label == labels[0] and np.array_equal(item.media.data, images[0])
    assert item.annotations[0].attributes == {
        "hsf_series": 4,
        "writer_id": 2578,
        "writer_digit_index": 69,
        "nist_class_code": 37,
        "nist_index": 279260,
        "duplicate": 0,
    }  # the first row of QMNIST's test labels: [7, 4, 2578, 69, 37, 279260, 0, 0]
    assert qmnist[0].tolist() == [7, 4, 2578, 69, 37, 279260, 0, 0]


def test_qmnist_export_writes_the_extended_labels_back(qmnist_folder, real, tmp_path):
    _, labels, qmnist = real
    out = tmp_path / "out"
    source = Dataset.import_from(qmnist_folder, "mnist")
    source.export(str(out), "mnist", save_media=True)
    original = osp.join(qmnist_folder, "qmnist-test-labels-idx2-int.gz")
    assert decompressed(out / "t10k-labels-idx2-int.gz") == decompressed(original)
    assert np.array_equal(idx.read_idx(str(out / "t10k-labels-idx1-ubyte.gz")), labels[:COUNT])  # the classic file too
    back = Dataset.import_from(str(out), "mnist")
    assert_same_items(source, back)
    assert all(a.annotations[0].attributes == b.annotations[0].attributes for a, b in zip(source, back))


def test_the_real_qmnist_labels_open_alone_xz_compressed_and_idx2_is_preferred_to_idx1(shared_data, real, tmp_path):
    _, _, qmnist = real
    with gzip.open(osp.join(shared_data, "qmnist", "qmnist-test-labels-idx2-int.gz")) as f:
        payload = f.read()
    with lzma.open(tmp_path / "qmnist-test-labels-idx2-int.xz", "wb", preset=0) as f:
        f.write(payload)
    idx.write_idx(str(tmp_path / "qmnist-test-labels-idx1-ubyte.gz"), qmnist[:, 0].astype(np.uint8))
    dataset = Dataset.import_from(str(tmp_path), "mnist")
    assert len(dataset) == 60000 and list(dataset.subsets()) == ["test"]
    last = dataset.get("59999", "test")
    assert last.media is None and last.annotations[0].attributes["nist_index"] == qmnist[-1, 5]


def test_items_with_and_without_qmnist_attributes_export_and_come_back_as_they_were(tmp_path):
    categories = {AnnotationType.label: LabelCategories.from_iterable(family.DIGITS)}
    image = Image.from_numpy(np.zeros((28, 28), np.uint8))
    attributes = {"writer_id": 9, "unused": 5}
    source = Dataset.from_iterable(
        [
            DatasetItem("0", subset="nist", media=image, annotations=[Label(3, attributes=attributes)]),
            DatasetItem("1", subset="nist", media=image, annotations=[Label(4)]),
            DatasetItem("2", subset="nist", media=image),
        ],
        categories=categories,
    )
    source.export(str(tmp_path), "mnist", save_media=True)
    table = idx.read_idx(str(tmp_path / "nist-labels-idx2-int.gz"))
    assert table.tolist() == [  # a missing attribute is written as the value that means "absent"
        [3, -1, 9, -1, -1, -1, -1, 5],
        [4, -1, -1, -1, -1, -1, -1, 0],
        [255, -1, -1, -1, -1, -1, -1, 0],
    ]
    back = Dataset.import_from(str(tmp_path), "mnist")
    assert_same_items(source, back)
    assert [i.annotations[0].attributes for i in back if i.annotations] == [{"writer_id": 9, "unused": 5}, {}]


def test_items_without_qmnist_attributes_write_no_extended_file(real, tmp_path):
    Dataset.import_from(mnist_folder(tmp_path / "in", real), "mnist").export(str(tmp_path / "out"), "mnist")
    assert not [n for n in os.listdir(tmp_path / "out") if EXTENDED in n]


def test_a_qmnist_attribute_that_is_not_an_integer_is_an_export_error_naming_the_item(tmp_path):
    source = Dataset.from_iterable(
        [DatasetItem("a7", annotations=[Label(1, attributes={"writer_id": "someone"})])],
        categories={AnnotationType.label: LabelCategories.from_iterable(family.DIGITS)},
    )
    with pytest.raises(DatasetExportError, match="item 'a7'.*writer_id"):
        source.export(str(tmp_path), "mnist")


def test_an_extended_labels_file_of_the_wrong_shape_is_an_error_naming_it(tmp_path):
    idx.write_idx(str(tmp_path / "qmnist-train-labels-idx2-int.gz"), np.zeros((4, 7), np.int32))
    with pytest.raises(DatumaroError) as error:
        Dataset.import_from(str(tmp_path), "mnist")
    assert "qmnist-train-labels-idx2-int.gz: QMNIST extended labels are N x 8" in error_text(error.value)


def test_an_old_export_with_extended_labels_is_replaced_whole(qmnist_folder, tmp_path):
    out = tmp_path / "out"
    Dataset.import_from(qmnist_folder, "mnist").export(str(out), "mnist", save_media=True)
    plain = Dataset.from_iterable([DatasetItem("0", subset="test", annotations=[Label(1)])],
                                  categories={AnnotationType.label: LabelCategories.from_iterable(family.DIGITS)})
    plain.export(str(out), "mnist")
    assert not osp.exists(out / "t10k-labels-idx2-int.gz")  # a stale idx2 would override the new labels
    assert len(Dataset.import_from(str(out), "mnist")) == 1


def test_subset_names_of_each_file_naming():
    assert family.parse_prefix("t10k") == ("test", None, False)
    assert family.parse_prefix("emnist-byclass-test") == ("test", "byclass", True)
    assert family.parse_prefix("qmnist-train") == ("train", None, False)
    assert family.parse_prefix("xnist") == ("nist", None, False)
    assert family.parse_prefix("my-subset") == ("my-subset", None, False)

