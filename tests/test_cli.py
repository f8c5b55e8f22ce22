"""The `datum` CLI as a user runs it: a subprocess of the installed command, on real digits."""

import os
import os.path as osp

import numpy as np

from datumaro_mnist_plugins.codecs import idx

from .conftest import run_datum


def test_datum_detect_prints_mnist_on_a_stock_install(shared_data):
    # stock Datumaro 1.13.12 crashes here: the unrelated `brats` importer of .gz files needs nibabel
    out = run_datum("detect", osp.join(shared_data, "mnist-dev")).stdout
    assert "Detected format: mnist" in out


def test_convert_mnist_to_mnist_is_byte_exact(real_test_digits, tmp_path):
    run_datum("convert", "-if", "mnist", "-i", real_test_digits, "-f", "mnist", "-o", str(tmp_path / "out"), "--", "--save-media")
    for name in os.listdir(real_test_digits):
        with idx.open_binary(osp.join(real_test_digits, name)) as a, idx.open_binary(str(tmp_path / "out" / name)) as b:
            assert a.read() == b.read(), name


def test_convert_with_auto_detection_to_imagenet(real_test_digits, tmp_path):
    run_datum("convert", "-i", real_test_digits, "-f", "imagenet", "-o", str(tmp_path / "out"), "--", "--save-media")
    classes = sorted(os.listdir(tmp_path / "out"))
    assert classes == [str(d) for d in range(10)]
    assert sum(len(os.listdir(tmp_path / "out" / c)) for c in classes) == 5000


def test_filter_then_export_on_the_command_line(real_test_digits, tmp_path):
    labels = idx.read_idx(osp.join(real_test_digits, "t10k-labels-idx1-ubyte.gz"))
    run_datum(
        "convert", "-if", "mnist", "-i", real_test_digits, "-f", "imagenet", "-o", str(tmp_path / "out"),
        "--filter", '/item[annotation/label="3"]', "--", "--save-media",
    )  # fmt: skip
    assert os.listdir(tmp_path / "out") == ["3"]
    assert len(os.listdir(tmp_path / "out" / "3")) == int(np.sum(labels == 3))


def test_convert_from_an_image_folder_to_mnist_with_viewable_images(tmp_path):
    from PIL import Image

    for label in ("cat", "dog"):
        os.makedirs(tmp_path / "src" / label)
        for i in range(3):
            Image.fromarray(np.full((28, 28, 3), 40 * i, np.uint8)).save(tmp_path / "src" / label / f"{i}.png")
    run_datum(
        "convert", "-if", "imagenet", "-i", str(tmp_path / "src"), "-f", "mnist", "-o", str(tmp_path / "out"),
        "--", "--save-media", "--image-ext", ".bmp", "--save-dataset-meta",
    )  # fmt: skip
    out = tmp_path / "out"
    assert (out / "labels.txt").read_text().split() == ["cat", "dog"]
    assert osp.isfile(out / "dataset_meta.json")
    assert idx.read_idx(str(out / "default-images-idx3-ubyte.gz")).shape == (6, 28, 28)
    assert sorted(os.listdir(out / "images" / "default"))[:2] == ["cat:0.bmp", "cat:1.bmp"]  # imagenet ids
    result = run_datum("detect", str(out)).stdout
    assert "Detected format: mnist" in result


def test_an_unknown_image_extension_is_a_clear_cli_error(real_test_digits, tmp_path):
    result = run_datum(
        "convert", "-if", "mnist", "-i", real_test_digits, "-f", "mnist", "-o", str(tmp_path / "out"),
        "--", "--save-media", "--image-ext", ".nope", check=False,
    )  # fmt: skip
    assert result.returncode != 0 and ".nope" in result.stderr + result.stdout
    assert not osp.exists(tmp_path / "out") or not os.listdir(tmp_path / "out")
