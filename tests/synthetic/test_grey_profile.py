"""The grey-level profile knobs (``ink``, ``softness``): checked like every knob, they change the digits'
grey levels the way asked (and nothing when left alone), draw the same bytes on any number of workers,
and a twin of binary, dim or soft real digits sees it."""

import os.path as osp

import numpy as np
import pytest
import yaml
from PIL import Image, ImageFilter

import datumaro as dm
from datumaro.components.errors import DatumaroError

from datumaro_mnist_plugins.codecs import idx
from datumaro_mnist_plugins.synthetic.image_stats import edge_widths, peak_levels
from datumaro_mnist_plugins.synthetic.strokes import render_digit
from datumaro_mnist_plugins.synthetic.style import DigitStyle, item_rng
from datumaro_mnist_plugins.synthetic.twin import estimate_style

from ..conftest import error_text, run_datum
from .test_mnist_synthetic import write_recipe

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SAMPLE = osp.join(REPO, "assets", "mnist-sample")
IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


def digits(style: DigitStyle, count: int = 100) -> np.ndarray:
    return np.stack([render_digit(i % 10, item_rng(3, "grey", i), style) for i in range(count)])


@pytest.mark.parametrize("style, key", [
    ({"ink": [0.0, 1.0]}, "'style.ink'"),
    ({"ink": [0.9, 0.5]}, "'style.ink'"),
    ({"ink": 0.5}, "'style.ink'"),
    ({"ink": [0.5, 3.0]}, "'style.ink'"),
    ({"softness": -0.5}, "'style.softness'"),
    ({"softness": 5}, "'style.softness'"),
    ({"softness": "soft"}, "'style.softness'"),
])
def test_bad_grey_profiles_are_errors_naming_the_knob(tmp_path, style, key):
    path = write_recipe(tmp_path, {"seed": 1, "subsets": {"train": 3}, "style": style})
    with pytest.raises(DatumaroError) as info:
        dm.Dataset.import_from(path, "mnist_synthetic")
    assert key in error_text(info.value) and "recipe.yaml" in error_text(info.value)


def test_mnist_profile_given_explicitly_is_the_default_drawing():
    assert np.array_equal(digits(DigitStyle(ink=[1, 1], softness=1), 30), digits(DigitStyle(), 30))


def test_binary_ink_is_mnist_ink_thresholded_at_half_scale():
    default, binary = digits(DigitStyle()), digits(DigitStyle(softness=0))
    assert set(np.unique(binary).tolist()) == {0, 255}
    # the same digits (no numbers drawn for a fixed profile), only thresholded
    assert np.array_equal(binary, np.where(default > 127, 255, 0))


def test_binary_ink_stays_binary_under_noise_only_as_noise_allows():
    noisy = digits(DigitStyle(softness=0, noise=0.05))
    quiet = digits(DigitStyle(noise=0.05))
    assert len(np.unique(noisy)) > 2  # noise is added after the profile
    assert np.median(edge_widths(noisy)) < 0.5 * np.median(edge_widths(quiet))


@pytest.mark.parametrize("ink", [0.3, 0.5, 0.8])
def test_ink_sets_the_peak_level(ink):
    images = digits(DigitStyle(ink=(ink, ink)))
    assert abs(np.median(peak_levels(images)) - ink * 253) <= 3
    assert images.max() <= np.floor(255 * ink + 0.5)


def test_an_ink_range_spreads_the_digits_peaks():
    peaks = peak_levels(digits(DigitStyle(ink=(0.4, 0.9)), 200))
    assert 0.35 * 253 < peaks.min() < 0.5 * 253 and 0.8 * 253 < peaks.max() < 0.92 * 253


def test_softness_widens_the_edges_in_order():
    widths = [np.median(edge_widths(digits(DigitStyle(softness=s)))) for s in (0.0, 0.5, 1.0, 2.0, 3.0)]
    assert widths[0] == 0 and all(a < b for a, b in zip(widths, widths[1:]))
    # a blur keeps the ink: the mass of a digit moves, it is not lost
    blurred, sharp = digits(DigitStyle(softness=3.0)), digits(DigitStyle())
    assert abs(blurred.sum() / sharp.sum() - 1) < 0.05


@pytest.mark.parametrize("style", [
    {"ink": [0.4, 0.9], "softness": 2.5},
    {"softness": 0, "noise": 0.05, "image_size": 32},
    {"ink": [0.6, 0.6], "softness": 0.4},
])
def test_profiles_draw_the_same_bytes_on_any_number_of_workers(tmp_path, style):
    path = write_recipe(tmp_path, {"seed": 4, "subsets": {"train": 300}, "style": style})
    drawn = [[item.media.data.tobytes() for item in dm.Dataset.import_from(path, "mnist_synthetic", workers=n)]
             for n in (1, 2)]
    assert drawn[0] == drawn[1]
    alone = dm.Dataset.import_from(path, "mnist_synthetic", workers=1)
    assert alone.get("137", "train").media.data.tobytes() == drawn[0][137]  # a random get() draws it alone


def write_changed_sample(folder, change) -> np.ndarray:
    """The 100 real digits of assets/mnist-sample, changed, as an MNIST folder; the changed images."""
    images = change(np.asarray(idx.read_idx(osp.join(SAMPLE, IMAGES))))
    folder.mkdir()
    idx.write_idx(str(folder / IMAGES), images)
    idx.write_idx(str(folder / LABELS), np.asarray(idx.read_idx(osp.join(SAMPLE, LABELS))))
    return images


def test_the_twin_of_real_digits_keeps_mnist_profile():
    real = np.asarray(idx.read_idx(osp.join(SAMPLE, IMAGES)))
    style = estimate_style(list(real))
    assert (style.ink, style.softness) == ((1.0, 1.0), 1.0)


@pytest.mark.parametrize("change, knob, check", [
    (lambda x: np.where(x > 127, 255, 0).astype(np.uint8), "softness", lambda v: v <= 0.25),
    (lambda x: np.floor(x * 0.55 + 0.5).astype(np.uint8), "ink", lambda v: all(0.5 <= e <= 0.6 for e in v)),
    (lambda x: np.stack([np.asarray(Image.fromarray(i).filter(ImageFilter.GaussianBlur(1))) for i in x]),
     "softness", lambda v: 1.6 <= v <= 2.5),
], ids=["binarized", "dimmed", "blurred"])
def test_a_twin_of_changed_real_digits_sees_their_profile(tmp_path, change, knob, check):
    """Through `datum convert`, as a user twins a dataset: the recipe's knob, and the digits it draws."""
    real = write_changed_sample(tmp_path / "real", change)
    run_datum("convert", "-if", "mnist", "-i", str(tmp_path / "real"), "-f", "mnist_synthetic",
              "-o", str(tmp_path / "twin"))
    style = yaml.safe_load((tmp_path / "twin" / "recipe.yaml").read_text())["style"]
    assert check(style[knob]), style
    drawn = np.stack([i.media.data for i in dm.Dataset.import_from(str(tmp_path / "twin"), "mnist_synthetic")])
    assert abs(np.median(peak_levels(drawn)) / np.median(peak_levels(real)) - 1) < 0.1
    real_edges, drawn_edges = np.median(edge_widths(real)), np.median(edge_widths(drawn))
    assert abs(drawn_edges - real_edges) <= 0.15 * max(real_edges, 0.5)
