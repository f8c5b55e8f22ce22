"""Exports for training (issue 15 §4, §6, §7): one --image-ext rule, the torchvision layout, compression,
subset and label-value recipes, and MNIST -> CIFAR through the gray_to_rgb transform."""

from __future__ import annotations

import os
import os.path as osp
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datumaro.components.annotation import AnnotationType, Label, LabelCategories
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatasetExportError
from datumaro.components.media import Image

from datumaro_mnist_plugins.codecs import idx

from .conftest import digits_dataset, error_text, run_datum

SAMPLE = osp.join(osp.dirname(__file__), "..", "assets", "mnist-sample")  # 100 real test digits
FORMATS = ("mnist", "mnist_csv", "mnist_synthetic")
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def tree(folder) -> set:
    return {osp.relpath(osp.join(root, name), folder) for root, _, names in os.walk(folder) for name in names}


def labels_of(dataset):
    return {(item.subset, item.id): [a.label for a in item.annotations] for item in dataset}


def pixels_of(dataset):
    return {(item.subset, item.id): np.asarray(item.media.data) for item in dataset}


# --- §4 one rule for --image-ext without --save-media ---------------------------------------------------


@SETTINGS
@given(
    fmt=st.sampled_from(FORMATS),
    image_ext=st.sampled_from([None, ".png", ".jpg", ".bmp"]),
    save_media=st.sampled_from([None, False, True]),
)
def test_image_ext_without_save_media_is_an_error_for_every_format(tmp_path_factory, fmt, image_ext, save_media):
    out = tmp_path_factory.mktemp("out") / "export"
    dataset = digits_dataset(count=2)
    export = lambda: dataset.export(str(out), fmt, save_media=save_media, image_ext=image_ext)  # noqa: E731
    if image_ext and not save_media:
        with pytest.raises(DatasetExportError, match=r"--image-ext '\.\w+' .* only --save-media writes"):
            export()
        assert not osp.exists(out)  # refused before anything is written
    else:
        export()
        written = tree(out)
        if fmt == "mnist_synthetic":
            assert any(n.startswith("preview" + (image_ext or ".png")) for n in written) == bool(save_media)
        else:
            assert any(n.startswith("images" + os.sep) for n in written) == bool(image_ext and save_media)


@pytest.mark.parametrize("fmt", FORMATS)
def test_image_ext_without_save_media_is_the_first_error_line_of_datum_convert(tmp_path, fmt):
    out = tmp_path / "out"
    result = run_datum(
        "convert", "-i", SAMPLE, "-if", "mnist", "-f", fmt, "-o", str(out), "--", "--image-ext", ".png", check=False
    )
    assert result.returncode != 0
    assert "--image-ext '.png'" in result.stderr and "--save-media" in result.stderr
    assert not osp.exists(out) or not os.listdir(out)


# --- §6 the torchvision layout ----------------------------------------------------------------------------

# What torchvision/datasets/mnist.py opens under <root>/<ClassName>/raw/ (raw_folder), with download=False:
# - MNIST, FashionMNIST, KMNIST: MNIST._check_exists wants every name of `resources` without its ".gz"
#   (train-* and t10k-*, whichever `train` is); MNIST._load_data reads "{train|t10k}-images-idx3-ubyte" and
#   "{train|t10k}-labels-idx1-ubyte" with read_image_file / read_label_file (uint8, 3-d / 1-d).
# - EMNIST: _check_exists and _load_data use images_file / labels_file, "<_file_prefix>-images-idx3-ubyte" and
#   "-labels-idx1-ubyte" with _file_prefix = "emnist-<split>-<train|test>"; images are stored transposed.
# - QMNIST: images_file / labels_file are the `resources[subsets[what]]` names without their suffix:
#   "qmnist-<train|test>-images-idx3-ubyte", "qmnist-<train|test>-labels-idx2-int" (read as 2-d, int32),
#   "xnist-..." for what="nist".
# None of them decompresses anything: ".gz" files are only ever downloaded and extracted.
TORCHVISION_FILES = {
    "MNIST": {"train": ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
              "test": ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]},
    "FashionMNIST": {"train": ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
                     "test": ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]},
    "KMNIST": {"train": ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
               "test": ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]},
    "EMNIST": {"train": ["emnist-letters-train-images-idx3-ubyte", "emnist-letters-train-labels-idx1-ubyte"],
               "test": ["emnist-letters-test-images-idx3-ubyte", "emnist-letters-test-labels-idx1-ubyte"]},
    "QMNIST": {"train": ["qmnist-train-images-idx3-ubyte", "qmnist-train-labels-idx2-int"],
               "test": ["qmnist-test-images-idx3-ubyte", "qmnist-test-labels-idx2-int"],
               "nist": ["xnist-images-idx3-ubyte", "xnist-labels-idx2-int"]},
}
#: torchvision's SN3_PASCALVINCENT_TYPEMAP, as numpy big-endian dtypes
SN3_TYPES = {8: ">u1", 9: ">i1", 11: ">i2", 12: ">i4", 13: ">f4", 14: ">f8"}


def read_sn3(path: str) -> np.ndarray:
    """torchvision's read_sn3_pascalvincent_tensor(path, strict=False), in numpy: plain open(), no decompression."""
    with open(path, "rb") as f:
        data = f.read()
    nd, ty = data[3], data[2]
    assert 1 <= nd <= 3 and 8 <= ty <= 14
    shape = [int.from_bytes(data[4 * (i + 1) : 4 * (i + 2)], "big") for i in range(nd)]
    return np.frombuffer(data, dtype=SN3_TYPES[ty], offset=4 * (nd + 1)).reshape(shape)


def torchvision_load(root, class_name: str, subset: str):
    """(images, targets) as torchvision's <class_name>(root, ...)._load_data() gets them, after _check_exists."""
    raw = osp.join(root, class_name, "raw")
    for name in (n for s in TORCHVISION_FILES[class_name] for n in TORCHVISION_FILES[class_name][s]):
        if class_name in ("MNIST", "FashionMNIST", "KMNIST") or name in TORCHVISION_FILES[class_name][subset]:
            assert osp.isfile(osp.join(raw, name)), f"{class_name}._check_exists: {name} missing"
    images_name, labels_name = TORCHVISION_FILES[class_name][subset]
    images, targets = read_sn3(osp.join(raw, images_name)), read_sn3(osp.join(raw, labels_name))
    assert images.dtype == np.uint8 and images.ndim == 3
    if class_name == "QMNIST":
        assert targets.dtype == ">i4" and targets.ndim == 2
        targets = targets[:, 0]  # compat=True: target[0]
    else:
        assert targets.dtype == np.uint8 and targets.ndim == 1
    return images, targets.astype(int)


def qmnist_digits(subsets=("train", "test"), count=3, size=(28, 20)):
    """Digits whose Labels carry QMNIST's extended columns on some items (not all)."""
    source = digits_dataset(count=count, subsets=subsets, size=size)
    items = []
    for n, item in enumerate(source):
        attributes = {"writer_id": 100 + n, "hsf_series": 4} if n % 2 else {}
        items.append(item.wrap(annotations=[Label(item.annotations[0].label, attributes=attributes)]))
    return Dataset.from_iterable(items, categories=source.categories())


@pytest.mark.parametrize("class_name", list(TORCHVISION_FILES))
def test_torchvision_layout_writes_exactly_what_each_loader_reads(tmp_path, class_name):
    subsets = ("train", "test", "nist") if class_name == "QMNIST" else ("train", "test")
    source = qmnist_digits(subsets=subsets)  # non-square: a transposed EMNIST file must say W x H
    options = {"emnist_split": "letters"} if class_name == "EMNIST" else {}
    source.export(
        str(tmp_path), "mnist", save_media=True, layout="torchvision", torchvision_class=class_name, **options
    )

    expected = {osp.join(class_name, "raw", n) for names in TORCHVISION_FILES[class_name].values() for n in names}
    written = tree(tmp_path)
    assert expected <= written
    assert not [n for n in written if n.endswith((".gz", ".xz", ".bz2")) and not n.endswith("-meta.gz")]
    for subset in subsets:
        images, targets = torchvision_load(tmp_path, class_name, subset)
        items = sorted((i for i in source if i.subset == subset), key=lambda i: int(i.id))
        want = np.stack([i.media.data for i in items])
        assert np.array_equal(images, want.transpose(0, 2, 1) if class_name == "EMNIST" else want)
        assert targets.tolist() == [i.annotations[0].label for i in items]

    back = Dataset.import_from(str(tmp_path), "mnist")  # our importer reads the torchvision layout back
    assert labels_of(back) == labels_of(source)
    assert all(np.array_equal(a, pixels_of(back)[k]) for k, a in pixels_of(source).items())
    if class_name == "QMNIST":
        attrs = {(i.subset, i.id): i.annotations[0].attributes for i in back}
        assert attrs == {(i.subset, i.id): i.annotations[0].attributes for i in source}


def test_a_torchvision_root_keeps_the_other_classes_and_replaces_the_one_written(tmp_path):
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"a torchvision download")
    for seed in (0, 1):  # the second export replaces the first one's FashionMNIST/ whole
        digits_dataset(count=2, seed=seed).export(
            str(tmp_path), "mnist", save_media=True, layout="torchvision", torchvision_class="FashionMNIST"
        )
    assert (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").read_bytes() == b"a torchvision download"
    images, _ = torchvision_load(tmp_path, "FashionMNIST", "train")
    assert np.array_equal(images, np.stack([i.media.data for i in digits_dataset(count=2, seed=1) if i.subset == "train"]))


@pytest.mark.parametrize(
    "class_name, names, warned",
    [
        ("MNIST", list("0123456789"), False),
        ("MNIST", list("0123"), False),  # a prefix: '3' is still torchvision's class 3
        ("FashionMNIST", list("0123456789"), True),
        ("MNIST", ["cat", "dog"], True),
        ("EMNIST", ["unused-0", "Aa", "Bb"], False),
        ("EMNIST", list("01"), True),
    ],
)
def test_classes_torchvision_would_misname_are_warned_about(tmp_path, caplog, class_name, names, warned):
    options = {"emnist_split": "letters"} if class_name == "EMNIST" else {}
    source = named_classes(names, [0, 1])
    source.transform("random_split", splits=[("train", 0.5), ("test", 0.5)], seed=0).export(
        str(tmp_path), "mnist", save_media=True, layout="torchvision", torchvision_class=class_name, **options
    )
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(f"torchvision's {class_name}: label values are class indices" in m for m in messages) == warned


TORCHVISION_SUBSETS = {"MNIST": {"train", "test"}, "EMNIST": {"train", "test"}, "QMNIST": {"train", "test", "nist"}}
REQUIRED = {"MNIST": {"train", "test"}, "EMNIST": set(), "QMNIST": set()}


@SETTINGS
@given(
    class_name=st.sampled_from(sorted(TORCHVISION_SUBSETS)),
    subsets=st.sets(st.sampled_from(["train", "test", "nist", "default", "val", "t10k"]), min_size=1, max_size=3),
)
def test_every_set_of_subsets_exports_for_torchvision_or_fails_clearly(tmp_path_factory, class_name, subsets):
    out = tmp_path_factory.mktemp("tv")
    options = {"emnist_split": "letters"} if class_name == "EMNIST" else {}
    export = lambda: digits_dataset(count=1, subsets=sorted(subsets)).export(  # noqa: E731
        str(out), "mnist", save_media=True, layout="torchvision", torchvision_class=class_name, **options
    )
    if subsets <= TORCHVISION_SUBSETS[class_name] and REQUIRED[class_name] <= subsets:
        export()
        raw = osp.join(out, class_name, "raw")
        files = TORCHVISION_FILES[class_name]
        assert {s for s in files if all(osp.isfile(osp.join(raw, n)) for n in files[s])} == subsets
    else:
        with pytest.raises(DatasetExportError, match=f"torchvision's {class_name} reads the subsets") as error:
            export()
        if subsets - TORCHVISION_SUBSETS[class_name]:
            assert "--subset-map" in str(error.value)
        assert os.listdir(out) == []


def mixed_sizes():
    image = lambda i: Image.from_numpy(np.zeros((28, 28 + i), np.uint8))  # noqa: E731
    items = [
        DatasetItem(id=str(i), subset=s, media=image(i), annotations=[Label(1)]) for s in ("train", "test") for i in range(2)
    ]
    return Dataset.from_iterable(items, categories=list("0123456789"))


def unlabeled():
    image = Image.from_numpy(np.zeros((28, 28), np.uint8))
    items = [DatasetItem(id=str(i), subset=s, media=image) for s in ("train", "test") for i in range(2)]
    return Dataset.from_iterable(items, categories=list("0123456789"))


@pytest.mark.parametrize(
    "make, options, message",
    [
        (digits_dataset, {"torchvision_class": "EMNIST"}, "needs --emnist-split"),
        (digits_dataset, {"torchvision_class": "EMNIST", "emnist_split": "nope"}, "needs --emnist-split"),
        (digits_dataset, {"emnist_split": "letters"}, "--emnist-split is for --torchvision-class EMNIST"),
        (digits_dataset, {"torchvision_class": "CIFAR10"}, "is not one of MNIST"),
        (digits_dataset, {"compression": "gz"}, "--compression gz would make it download them again"),
        (digits_dataset, {"save_media": False}, "add --save-media"),
        (mixed_sizes, {}, r"holds images of 2 sizes \(28x28, 28x29\); torchvision's MNIST reads one N x H x W array"),
        (unlabeled, {}, "has no label; torchvision's MNIST would read 255"),
    ],
)
def test_what_torchvision_cannot_read_is_refused_before_anything_is_written(tmp_path, make, options, message):
    (tmp_path / "old").write_text("kept")
    options = {"save_media": True, **options}
    with pytest.raises(DatasetExportError, match=message):
        make().export(str(tmp_path), "mnist", layout="torchvision", **options)
    assert os.listdir(tmp_path) == ["old"]


@pytest.mark.parametrize(
    "compression, suffix", [("none", ""), ("gz", ".gz"), ("xz", ".xz"), ("bz2", ".bz2"), (None, ".gz")]
)
def test_compression_names_and_stores_the_idx_files_and_round_trips(tmp_path, compression, suffix):
    source = digits_dataset(count=3)
    source.export(str(tmp_path), "mnist", save_media=True, compression=compression)
    names = {n for n in os.listdir(tmp_path) if "idx" in n}
    assert names == {f"{p}-{k}{suffix}" for p in ("train", "t10k") for k in ("images-idx3-ubyte", "labels-idx1-ubyte")}
    for name in names:
        assert idx.check_container(str(tmp_path / name)) == suffix
    back = Dataset.import_from(str(tmp_path), "mnist")
    assert labels_of(back) == labels_of(source)
    assert all(np.array_equal(a, pixels_of(back)[k]) for k, a in pixels_of(source).items())


def test_an_unknown_compression_is_an_error(tmp_path):
    with pytest.raises(DatasetExportError, match="--compression 'zip' is not one of none, gz, xz, bz2"):
        digits_dataset().export(str(tmp_path / "out"), "mnist", save_media=True, compression="zip")


# --- subsets and label values -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, train_file", [("mnist", "train-images-idx3-ubyte.gz"), ("mnist_csv", "mnist_train.csv")])
def test_subset_map_gives_the_names_readers_look_for(tmp_path, fmt, train_file):
    source = digits_dataset(count=2, subsets=("default", "val"))
    source.export(str(tmp_path), fmt, save_media=True, subset_map={"default": "train", "val": "test"})
    assert train_file in os.listdir(tmp_path) and not [n for n in os.listdir(tmp_path) if "default" in n]
    back = Dataset.import_from(str(tmp_path), fmt)
    renamed = {({"default": "train", "val": "test"}[s], i): v for (s, i), v in labels_of(source).items()}
    assert labels_of(back) == renamed


def test_subsets_merged_by_the_subset_map_keep_apart_or_fail_clearly(tmp_path):
    disjoint = Dataset.from_iterable(
        [
            DatasetItem(id=f"{s}{i}", subset=s, media=Image.from_numpy(np.full((8, 8), i, np.uint8)), annotations=[Label(i)])
            for s in ("a", "b")
            for i in range(2)
        ],
        categories=list("0123456789"),
    )
    disjoint.export(str(tmp_path / "ok"), "mnist", save_media=True, subset_map=["a:train", "b:train"])
    assert sorted(i.id for i in Dataset.import_from(str(tmp_path / "ok"), "mnist")) == ["a0", "a1", "b0", "b1"]
    with pytest.raises(DatasetExportError, match="item '0' of subsets 'a' and 'b' both into 'train'"):
        digits_dataset(count=2, subsets=("a", "b")).export(
            str(tmp_path / "no"), "mnist", save_media=True, subset_map=["a:train", "b:train"]
        )
    assert not osp.exists(tmp_path / "no")


@pytest.mark.parametrize("bad", [["a:b:c"], [("default", "")], ["train"]])
def test_a_malformed_subset_map_is_an_error(tmp_path, bad):
    with pytest.raises(DatasetExportError, match="expected SRC:DST"):
        digits_dataset().export(str(tmp_path / "out"), "mnist", save_media=True, subset_map=bad)


def named_classes(names, labels):
    items = [DatasetItem(id=str(i), media=Image.from_numpy(np.full((28, 28), i, np.uint8)), annotations=[Label(label)])
             for i, label in enumerate(labels)]
    return Dataset.from_iterable(items, categories=list(names))


@SETTINGS
@given(
    fmt=st.sampled_from(["mnist", "mnist_csv"]),
    names=st.lists(
        st.one_of(st.integers(0, 300).map(str), st.sampled_from(["07", "cat", "-1", " 3", "٣", "1e2"])),
        min_size=1, max_size=6, unique=True,
    ),
)
def test_label_values_names_keeps_each_digit_or_fails_clearly(tmp_path_factory, fmt, names):
    out = tmp_path_factory.mktemp("lv")
    source = named_classes(names, list(range(len(names))))
    export = lambda: source.export(str(out), fmt, save_media=True, label_values="names")  # noqa: E731
    if all(n.isascii() and n.isdigit() and str(int(n)) == n and int(n) < 255 for n in names):
        export()
        back = Dataset.import_from(str(out), fmt)
        by_id = {i.id: i.annotations[0].label for i in back}
        assert by_id == {str(i): int(n) for i, n in enumerate(names)}  # the value written is the class's number
        cats = back.categories()[AnnotationType.label]
        assert all(cats[int(n)].name == n for n in names)
    else:
        with pytest.raises(DatasetExportError, match="--label-values names writes each class as the number"):
            export()
        assert os.listdir(out) == []


def image_folder_3_and_7(folder):
    """An ImageNet-style folder of PNGs: classes '3' and '7' (what `datum convert -if imagenet` reads)."""
    from PIL import Image as PILImage

    for label in ("3", "7"):
        os.makedirs(folder / label)
        for i in range(2):
            pixels = np.full((28, 28), 10 * i + int(label), np.uint8)
            PILImage.fromarray(pixels).save(folder / label / f"{label}_{i}.png")


def test_cli_image_folder_to_train_files_with_digits_as_their_values(tmp_path):
    image_folder_3_and_7(tmp_path / "folder")
    out = tmp_path / "out"
    run_datum("convert", "-i", str(tmp_path / "folder"), "-if", "imagenet", "-f", "mnist", "-o", str(out),
              "--", "--save-media", "--subset-map", "default:train", "--label-values", "names", "--compression", "none")
    assert {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"} <= set(os.listdir(out))
    assert sorted(read_sn3(str(out / "train-labels-idx1-ubyte")).tolist()) == [3, 3, 7, 7]


def test_cli_torchvision_layout_from_the_sample(tmp_path):
    run_datum("convert", "-i", SAMPLE, "-if", "mnist", "-f", "mnist", "-o", str(tmp_path / "out"),
              "--", "--save-media", "--layout", "torchvision", "--torchvision-class", "QMNIST")
    images, targets = torchvision_load(tmp_path / "out", "QMNIST", "test")
    sample = Dataset.import_from(SAMPLE, "mnist")
    assert images.shape == (100, 28, 28) and targets.tolist() == [i.annotations[0].label for i in sample]


# --- §7 MNIST -> CIFAR ------------------------------------------------------------------------------------


def assert_cifar_matches(cifar_dir, source):
    cifar = Dataset.import_from(str(cifar_dir), "cifar")
    assert labels_of(cifar) == labels_of(source)
    assert [c.name for c in cifar.categories()[AnnotationType.label]] == [
        c.name for c in source.categories()[AnnotationType.label]
    ]
    gray = pixels_of(source)
    for key, rgb in pixels_of(cifar).items():
        assert rgb.shape == gray[key].shape + (3,) and all(np.array_equal(rgb[..., c], gray[key]) for c in range(3))


def test_mnist_to_cifar_through_gray_to_rgb(tmp_path):
    source = Dataset.import_from(SAMPLE, "mnist")
    with pytest.raises(ValueError, match="axes don't match array"):  # why the transform exists
        source.export(str(tmp_path / "plain"), "cifar", save_media=True)
    rgb = Dataset.import_from(SAMPLE, "mnist").transform("gray_to_rgb")
    rgb.export(str(tmp_path / "cifar"), "cifar", save_media=True)
    assert_cifar_matches(tmp_path / "cifar", source)


def test_gray_to_rgb_leaves_color_and_missing_images_alone():
    color = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    items = [DatasetItem(id="c", media=Image.from_numpy(color)), DatasetItem(id="none"),
             DatasetItem(id="one", media=Image.from_numpy(np.ones((2, 3, 1), np.uint8), ext=".png"))]
    out = {i.id: i for i in Dataset.from_iterable(items).transform("gray_to_rgb")}
    assert np.array_equal(out["c"].media.data, color) and out["none"].media is None
    assert out["one"].media.data.shape == (2, 3, 3) and out["one"].media.size == (2, 3)
    assert out["one"].media.ext == ".png"  # kept: formats writing image files keep it lossless


def test_mnist_to_cifar_with_datum_commands_only(tmp_path):
    """`datum convert` has no transform step and `datum transform` writes the source's format, so the CLI way
    goes through Datumaro's own format: convert, transform, convert (the commands docs/training.md shows)."""
    rgb, step = str(tmp_path / "rgb"), str(tmp_path / "step")
    # --image-ext .png: Datumaro's format would otherwise store these extension-less images as lossy .jpg
    run_datum("convert", "-i", SAMPLE, "-if", "mnist", "-f", "datumaro", "-o", step, "--", "--save-media", "--image-ext", ".png")
    run_datum("transform", "-t", "gray_to_rgb", "-o", rgb, f"{step}:datumaro")
    cifar = str(tmp_path / "cifar")
    run_datum("convert", "-i", rgb, "-if", "datumaro", "-f", "cifar", "-o", cifar, "--", "--save-media")
    assert_cifar_matches(tmp_path / "cifar", Dataset.import_from(SAMPLE, "mnist"))


def test_gray_to_rgb_is_registered_in_every_environment_once():
    from datumaro.components.environment import Environment

    from datumaro_mnist_plugins import registration
    from datumaro_mnist_plugins.transforms import GrayToRgb

    env = Environment()
    plugin = env.transforms.get("gray_to_rgb")
    assert getattr(plugin, "get_plugin_cls", lambda: plugin)() is GrayToRgb  # lazy until used, or loaded
    assert "gray_to_rgb" not in registration.FORMAT_NAMES  # a transform, not a format `datum format` lists
    registration.replace_in(env, registration._our_plugins())  # registering again keeps one entry
    assert list(env.transforms).count("gray_to_rgb") == 1
