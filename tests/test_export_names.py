"""Subset names and item ids an export writes: each comes back exactly, or the export fails before writing.

Properties over sets of subset names (``test``/``t10k``, case variants, family prefixes, names holding file
suffixes, unicode...) and over long ids, for both file formats, with and without per-item sizes.
"""

from __future__ import annotations

import os
import os.path as osp
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from datumaro.components.annotation import AnnotationType, Label, LabelCategories
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatasetExportError
from datumaro.components.media import Image

from datumaro_mnist_plugins.subset_names import same_file_key, unfit_name_reason

from .conftest import DIGIT_CATEGORIES, assert_same_items

FORMATS = ("mnist", "mnist_csv")
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

TRICKY = [
    "test", "t10k", "T10K", "Test", "train", "TRAIN", "xnist", "nist", "default", "val",
    "emnist-digits-train", "emnist-letters-test", "qmnist-test", "qmnist-train", "mnist_train", "fashion-mnist_test",
    "a-images-idx3-ubyte", "b-labels-idx1-ubyte.gz", "c-labels-idx2-int", "meta", "labels.txt", "images",
    "x.y", ".hidden", "with space", " lead", "trail ", "ünï", "e\u0301", "\u00e9", "𝔘nicode", "日本",
    "a,b", "q\"uote", "per%cent", "star*[glob]", "semi;colon", "tab\tname", "nul\0name", "sl/ash", "back\\slash",
    "..", ".", "", "a" * 240, "\ud800",
]


def subset_names():
    tricky = st.sampled_from(TRICKY)
    free = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
    return st.lists(st.one_of(tricky, tricky, free), min_size=1, max_size=5, unique=True)


def dataset_of(subsets, ids=None, sizes=False):
    """Two items per subset (ids *ids*), distinct labels and pixels; 28x28 or, with *sizes*, mixed sizes."""
    rng = np.random.default_rng(len(subsets))
    items = []
    for s_index, subset in enumerate(subsets):
        for i, item_id in enumerate(ids or ("0", "1")):
            shape = (3 + i, 4 + s_index % 3) if sizes else (28, 28)
            items.append(DatasetItem(
                id=item_id, subset=subset,
                media=Image.from_numpy(data=rng.integers(0, 256, shape, dtype=np.uint8)),
                annotations=[Label((s_index + i) % 10)],
            ))
    return Dataset.from_iterable(
        items, categories={AnnotationType.label: LabelCategories.from_iterable(DIGIT_CATEGORIES)}
    )


def snapshot(folder):
    return sorted(os.listdir(folder)) if osp.isdir(folder) else None


def refuses_before_writing(dataset, folder, fmt):
    """The export fails with a Datumaro error and leaves *folder* as it was; returns the message."""
    before = snapshot(folder)
    with pytest.raises(DatasetExportError) as error:
        dataset.export(folder, fmt, save_media=True)
    assert snapshot(folder) == before
    assert not [n for n in os.listdir(osp.dirname(folder)) if n.startswith(".datumaro-mnist-export-")]
    return str(error.value)


def round_trips(dataset, folder, fmt):
    dataset.export(folder, fmt, save_media=True)
    assert_same_items(dataset, Dataset.import_from(folder, fmt))


def expected_clash(subsets, fmt):
    """Two names one file on some file system: the export must refuse (and name both). In IDX files
    (``mnist``) ``test`` is written as ``t10k-*``; in CSV, ``mnist_test.csv`` and ``mnist_t10k.csv`` are two."""
    keys = {}
    for name in subsets:
        key = same_file_key("test" if fmt == "mnist" and name.casefold() == "t10k" else name)
        if key in keys:
            return keys[key], name
        keys[key] = name
    return None


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=30, **SETTINGS)
@given(subsets=subset_names())
@example(subsets=["test", "t10k"])  # one file in IDX (t10k-*), two in CSV: a random draw found the difference
def test_any_subset_names_round_trip_or_fail_before_writing(fmt, subsets):
    try:
        dataset = dataset_of(subsets)
    except ValueError:  # Datumaro's own rule refuses the name ('..', absolute paths): nothing to export
        assume(False)
    with tempfile.TemporaryDirectory() as root:
        folder = osp.join(root, "out")
        try:
            round_trips(dataset, folder, fmt)
        except DatasetExportError:
            message = refuses_before_writing(dataset, folder, fmt)
            assert any(repr(name) in message for name in dataset.subsets()), message
        clash = expected_clash(list(dataset.subsets()), fmt)
        if clash:  # never a silent merge into one file
            assert snapshot(folder) is None


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "subsets, named",
    [
        (["train", "Train"], ["train", "Train"]),
        (["\u00e9", "e\u0301"], ["\u00e9", "e\u0301"]),
        (["nul\0name"], ["nul\0name"]),
        (["sl/ash"], ["sl/ash"]),
        (["new\nline"], ["new\nline"]),
        (["a" * 250], ["a" * 250]),
    ],
)
def test_clashing_or_unfit_names_are_refused_naming_them(tmp_path, fmt, subsets, named):
    message = refuses_before_writing(dataset_of(subsets), str(tmp_path / "out"), fmt)
    assert all(repr(name) in message for name in named), message


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("subsets", [["default", ""], ["", "default"], ["", "default", "train"]])
def test_subsets_datumaro_merges_with_repeated_ids_are_refused(tmp_path, fmt, subsets):
    """Datumaro merges subset '' into 'default' and hands the exporter both items '0': one row each would
    make a file no import can read, so the export refuses, naming the subset and the id."""
    message = refuses_before_writing(dataset_of(subsets), str(tmp_path / "out"), fmt)
    assert "'default'" in message and "id '0'" in message, message
    round_trips(dataset_of([""]), str(tmp_path / "alone"), fmt)  # subset '' alone is 'default'


@pytest.mark.parametrize("name", ["emnist-digits-train", "qmnist-test", "xnist", "t10k", "T10K"])
def test_family_prefixes_are_refused_by_mnist_and_kept_by_mnist_csv(tmp_path, name):
    """In IDX file names these are another subset (EMNIST's are transposed); in CSV file names they are not."""
    dataset = dataset_of([name, "test"])
    assert repr(name) in refuses_before_writing(dataset, str(tmp_path / "idx"), "mnist")
    round_trips(dataset, str(tmp_path / "csv"), "mnist_csv")


def test_csv_sidecar_named_like_a_data_file_is_refused(tmp_path):
    """Subset 'mnist_x' needs meta_mnist_x.csv, which the importer would read as subset 'x'."""
    message = refuses_before_writing(dataset_of(["mnist_x"], ids=("a", "b")), str(tmp_path / "out"), "mnist_csv")
    assert "'mnist_x'" in message and "meta_mnist_x.csv" in message


def test_unfit_name_reasons():
    assert unfit_name_reason("train") is None
    for name in ("", ".", "..", "a/b", "a\\b", "a\0b", "a\nb", "\ud800"):
        assert unfit_name_reason(name), name


@pytest.mark.parametrize("fmt", FORMATS + ("mnist_synthetic",))
def test_export_onto_a_file_fails_before_writing(tmp_path, fmt):
    """Exporter.convert (what generators and scripts call; Dataset.export stops at its own makedirs)."""
    target = tmp_path / "file"
    target.write_bytes(b"keep me")
    dataset = dataset_of(["train"])
    for dest in (target, target / "below"):
        with pytest.raises(DatasetExportError, match="is a file"):
            dataset.env.exporters[fmt].convert(dataset, save_dir=str(dest), save_media=True)
    assert target.read_bytes() == b"keep me"
    assert sorted(os.listdir(tmp_path)) == ["file"]


# --- long ids: the sidecars that hold them must import -------------------------------------------------

def item_ids():
    """Ids the id rule allows: short or up to 5,000 characters, any unicode (astral, commas, quotes, newlines)."""
    alphabet = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")
    tricky = st.sampled_from([",", '"', "\n", "\r", " ", "𝔘", "😀", "é", "\t", "'", "\\"])
    piece = st.text(st.one_of(alphabet, tricky), min_size=1, max_size=20)
    long = st.builds(lambda base, n: (base * n)[:n], piece, st.integers(33, 64) | st.integers(3000, 5000))
    return st.one_of(piece, long).filter(lambda i: unsafe_id_reason_of(i) is None)


def unsafe_id_reason_of(item_id):
    from datumaro_mnist_plugins.items import unsafe_id_reason

    try:
        DatasetItem(id=item_id)
    except ValueError:
        return "Datumaro refuses it"
    return unsafe_id_reason(item_id)


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=25, **SETTINGS)
@given(ids=st.lists(item_ids(), min_size=1, max_size=3, unique=True), sizes=st.booleans())
def test_any_ids_round_trip(fmt, ids, sizes):
    dataset = dataset_of(["train"], ids=ids, sizes=sizes)
    assume(len(dataset) == len(ids))  # Datumaro may normalize two ids into one
    with tempfile.TemporaryDirectory() as root:
        round_trips(dataset, osp.join(root, "out"), fmt)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("length", [5000, 8192])
def test_ids_at_the_limit_round_trip_with_sizes(tmp_path, fmt, length):
    ids = ["😀" * length, "a," * (length // 2)]
    round_trips(dataset_of(["train"], ids=ids, sizes=True), str(tmp_path / "out"), fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_ids_over_the_limit_are_refused_before_writing(tmp_path, fmt):
    from datumaro_mnist_plugins.items import MAX_ID_CHARS

    message = refuses_before_writing(dataset_of(["train"], ids=("x" * (MAX_ID_CHARS + 1), "1")), str(tmp_path / "out"), fmt)
    assert f"at most {MAX_ID_CHARS}" in message and len(message) < 300
