"""The synthetic digit renderer: deterministic, well-formed, MNIST-normalized, validated style."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datumaro_mnist_plugins.synthetic.strokes import (
    ALLOGRAPHS,
    DIGIT_CLASSES,
    DigitStyle,
    item_rng,
    render_allograph,
    render_digit,
)


def centre_of_mass(image: np.ndarray) -> np.ndarray:
    ink = image.astype(np.float64)
    ys, xs = np.indices(image.shape)
    return np.array([(ink * ys).sum(), (ink * xs).sum()]) / ink.sum()


def ink_box(image: np.ndarray, level: int = 64) -> tuple:
    """Height and width of the bounding box of the pixels brighter than *level*."""
    rows, cols = np.nonzero(image > level)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def test_classes():
    assert DIGIT_CLASSES == tuple("0123456789")
    assert sorted(ALLOGRAPHS) == list(range(10))


def test_dtype_and_shape():
    image = render_digit(3, item_rng(0, "train", 0), DigitStyle())
    assert image.dtype == np.uint8 and image.shape == (28, 28)
    assert image.flags.writeable and image.flags.c_contiguous
    assert image.max() > 200  # bright ink
    assert image[0].max() == 0 and image[:, 0].max() == 0  # on black, with MNIST's empty border


def test_same_item_same_bytes_in_any_order():
    style = DigitStyle()
    keys = [(7, "train", i) for i in range(20)] + [(7, "test", 3), (8, "train", 3)]
    forward = {key: render_digit(key[2] % 10, item_rng(*key), style).tobytes() for key in keys}
    backward = {key: render_digit(key[2] % 10, item_rng(*key), style).tobytes() for key in reversed(keys)}
    assert forward == backward
    # nothing but (seed, subset, index) matters: not what was drawn before
    render_digit(1, item_rng(7, "train", 99), style)
    assert render_digit(5, item_rng(7, "train", 5), style).tobytes() == forward[(7, "train", 5)]


def test_different_keys_different_images():
    style = DigitStyle()
    images = {render_digit(4, item_rng(0, "train", i), style).tobytes() for i in range(30)}
    assert len(images) == 30
    by_subset = {render_digit(4, item_rng(0, subset, 0), style).tobytes() for subset in ("train", "test", "val")}
    by_seed = {render_digit(4, item_rng(seed, "train", 0), style).tobytes() for seed in (0, 1, 2)}
    assert len(by_subset) == 3 and len(by_seed) == 3


@pytest.mark.parametrize("digit", range(10))
def test_every_class_is_mnist_normalized(digit):
    for index in range(40):
        image = render_digit(digit, item_rng(1, "check", index), DigitStyle())
        assert image.flags.writeable  # whether or not it had to be shifted
        assert image.sum() > 255 * 15, "visible ink"
        # centred by centre of mass on pixel (14, 14), whole-pixel shift like MNIST
        assert np.abs(centre_of_mass(image) - 14.0).max() <= 1.0
        # the digit's box fills (about) MNIST's 20x20 box
        height, width = ink_box(image)
        assert max(height, width) <= 22
        assert max(height, width) >= 16


@pytest.mark.parametrize("digit, name", [(d, n) for d in ALLOGRAPHS for n in ALLOGRAPHS[d]])
def test_every_allograph_draws(digit, name):
    image = render_allograph(digit, name, item_rng(2, "allograph", digit), DigitStyle())
    assert image.shape == (28, 28) and image.sum() > 255 * 15
    assert np.abs(centre_of_mass(image) - 14.0).max() <= 1.0


def test_a_class_varies():
    """Many draws of one class differ visibly (allographs, slant, pen, distortion), not a fixed template."""
    for digit in range(10):
        images = np.stack([render_digit(digit, item_rng(3, "mix", i), DigitStyle()) for i in range(30)])
        assert images.std(axis=0).mean() > 12
        # (real MNIST's 1s, the least varied class: 18 and 16 by these two measures)
        assert np.abs(images[:15].astype(int) - images[15:]).mean() > 12


def test_unknown_allograph():
    with pytest.raises(ValueError, match=r"^name: "):
        render_allograph(1, "no such", item_rng(0, "x", 0))


def test_mnist_like_ink_statistics():
    """Pixel statistics near real MNIST's (test digits: mean ink about 96 full pixels, a third of the
    inked pixels saturated)."""
    images = np.stack([render_digit(i % 10, item_rng(4, "stats", i), DigitStyle()) for i in range(300)])
    mass = images.reshape(len(images), -1).sum(axis=1) / 255.0
    assert 70 < mass.mean() < 125
    inked = images[images > 0]
    assert 0.15 < (inked >= 250).mean() < 0.6


@pytest.mark.parametrize("size", [16, 56])
def test_other_image_sizes(size):
    style = DigitStyle(image_size=size)
    for digit in range(10):
        image = render_digit(digit, item_rng(5, "size", digit), style)
        assert image.shape == (size, size) and image.dtype == np.uint8
        assert np.abs(centre_of_mass(image) - size / 2).max() <= 1.0
        assert max(ink_box(image)) <= round(size * 22 / 28)


def test_knobs_change_images():
    rng = lambda: item_rng(6, "knobs", 0)  # noqa: E731
    plain = render_digit(8, rng(), DigitStyle(elastic_alpha=0.0, noise=0.0))
    assert plain.shape == (28, 28)
    assert not np.array_equal(plain, render_digit(8, rng(), DigitStyle(elastic_alpha=0.0, noise=0.08)))
    thin = render_digit(1, rng(), DigitStyle(stroke_width=(1.0, 1.0)))
    thick = render_digit(1, rng(), DigitStyle(stroke_width=(3.5, 3.5)))
    assert thick.sum() > 1.5 * thin.sum()


def test_style_from_lists():
    """YAML/JSON give lists: accepted, stored as tuples so the style stays hashable."""
    style = DigitStyle(slant=[-5, 5], stroke_width=[2, 3])
    assert style.slant == (-5, 5) and hash(style)


BAD_STYLES = [
    ("image_size", 4),
    ("image_size", 28.0),
    ("image_size", True),
    ("stroke_width", (3.0, 1.0)),
    ("stroke_width", (0.0, 2.0)),
    ("stroke_width", 2.0),
    ("slant", (-90.0, 10.0)),
    ("slant", (float("nan"), 1.0)),
    ("rotation", (0.0, 180.0)),
    ("scale", (0.0, 1.0)),
    ("aspect", (1.0,)),
    ("jitter", -0.1),
    ("jitter_spread", -0.1),
    ("jitter_spread", 1.5),
    ("stroke_width_jitter", 2.0),
    ("elastic_alpha", -1.0),
    ("elastic_sigma", 0.0),
    ("noise", "loud"),
    ("noise", 2.0),
    ("ink", (0.05, 1.0)),
    ("ink", (1.0, 0.5)),
    ("ink", 0.5),
    ("softness", -0.1),
    ("softness", 4.5),
    ("taper", -1.0),
    ("taper", 7.0),
    ("spring_frequency", (0.0, 0.5)),  # a pen that never moves: only (0, 0), no spring, may start at 0
    ("spring_frequency", (0.5, 2.5)),
    ("spring_frequency", (0.7, 0.3)),
    ("spring_damping", (0.0, 0.9)),
    ("spring_damping", (0.5, 2.0)),  # with frequency 2, a pen whose integration diverges
    ("spring_damping", 0.7),
]


@pytest.mark.parametrize("field, value", BAD_STYLES)
def test_style_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^{field}: .*allowed"):
        DigitStyle(**{field: value})


def test_every_style_field_is_validated():
    validated = {field for field, _ in BAD_STYLES}
    assert validated == {f.name for f in dataclasses.fields(DigitStyle)}


def test_bad_digit():
    for digit in (-1, 10, "3"):
        with pytest.raises(ValueError, match=r"^digit: "):
            render_digit(digit, item_rng(0, "x", 0))


def test_mnist_normalization_of_a_binary_scan():
    """Like MNIST: a digit's inked box spans 20 px on its longest side (a faint edge pixel may round
    to black), edges carry many
    grey levels, and a digit's full pixels sit at one level of 251-255, or mostly one and some at the next,
    with few at 255."""
    images = np.stack([render_digit(i % 10, item_rng(7, "scan", i), DigitStyle()) for i in range(200)])
    sides = []
    for image in images:
        rows, cols = np.nonzero(image)
        sides.append(max(rows.max() - rows.min(), cols.max() - cols.min()) + 1)
    assert set(sides) <= {19, 20} and sides.count(20) >= 0.97 * len(sides)
    levels = np.mean([len(np.unique(image)) for image in images])
    assert levels > 35  # the old 4x4 box filter gave 17
    peaks = [np.bincount(image[image >= 251] - 251, minlength=5) for image in images]
    faint, near_full = ((images > 0) & (images < 6)).sum(), ((images > 245) & (images < 251)).sum()
    assert faint > 1.5 * len(images) and near_full > 1.5 * len(images)  # MNIST: ~3 of each a digit
    one = [p[:4].sum() == 0 or p[:4].max() >= 0.5 * p[:4].sum() for p in peaks]
    assert sum(one) >= 0.95 * len(peaks)  # mostly one level a digit (MNIST: 98.6% of digits)
    mixed = [p for p in peaks if p[:4].max() < 0.9 * p[:4].sum()]
    assert 0.2 * len(peaks) < len(mixed) < 0.8 * len(peaks)  # MNIST: about half mix in a second level
    inked = images[images > 0]
    assert 0.005 < (inked == 255).mean() < 0.1
    # as in MNIST, a digit whose full pixels peak below 255 has a few pixels at 255 whatever its size
    # (mostly one), not a share of its full pixels: the 255-count of the rest is spread over many
    saturated = (images == 255).sum(axis=(1, 2))
    few = saturated[saturated < np.array([p[:4].max() for p in peaks])]
    assert len(few) > 0.85 * len(images) and few.max() <= 6
    assert 0.45 < (few == 1).mean() < 0.8 and 0.03 < (few == 0).mean() < 0.25


def test_twin_style_follows_what_it_sees():
    """estimate_style moves slant and pen width toward the digits it is shown, never narrowing the slant."""
    from datumaro_mnist_plugins.synthetic.twin import estimate_style

    default = DigitStyle()
    shown = DigitStyle(slant=(10.0, 30.0), stroke_width=(2.8, 3.6))
    samples = [render_digit(i % 10, item_rng(8, "twin", i), shown) for i in range(300)]
    style = estimate_style(samples)
    assert sum(style.slant) > sum(default.slant) + 10
    assert sum(style.stroke_width) > sum(default.stroke_width)
    assert style.slant[1] - style.slant[0] >= default.slant[1] - default.slant[0] - 0.1
    assert (style.scale, style.aspect, style.noise) == (default.scale, default.aspect, 0.0)


@pytest.mark.parametrize("shown", [
    DigitStyle(scale=(0.6, 0.7), aspect=(1.3, 1.6), noise=0.08),
    DigitStyle(scale=(1.2, 1.3), aspect=(0.6, 0.7), stroke_width=(1.0, 1.6)),
])
def test_twin_style_sees_size_aspect_and_noise(shown):
    """A twin of digits drawn in a known style lands near that style's size, aspect, pen and noise."""
    from datumaro_mnist_plugins.synthetic.twin import estimate_style

    samples = [render_digit(i % 10, item_rng(9, "twin", i), shown) for i in range(300)]
    style = estimate_style(samples)
    for knob in ("scale", "aspect", "stroke_width"):
        middle, shown_middle = sum(getattr(style, knob)) / 2, sum(getattr(shown, knob)) / 2
        assert abs(middle - shown_middle) <= 0.25 * shown_middle, (knob, getattr(style, knob))
    assert abs(style.noise - shown.noise) <= 0.02


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=12),
    st.tuples(st.floats(-20, 20), st.floats(0.7, 1.3), st.floats(-0.2, 0.2), st.floats(-0.15, 0.15), st.floats(-0.6, 0.6)),
)
def test_a_class_shape_bends_the_middle_and_keeps_the_ends(points, shape):
    """A class's bend moves points smoothly: the top and bottom stay at their heights, nothing moves
    more than the bend allows, and the neutral shape moves nothing."""
    from datumaro_mnist_plugins.synthetic.strokes import _class_warp

    p = np.array(points)
    bent = _class_warp(p, shape)
    assert np.allclose(_class_warp(p, (0.0, 1.0, 0.0, 0.0, 0.0)), p)
    ends = (p[:, 1] == 0) | (p[:, 1] == 1)
    assert np.allclose(bent[ends, 1], p[ends, 1])
    assert np.abs(bent[:, 1] - p[:, 1]).max() <= abs(shape[2]) + 1e-9
    slant, width, _, bow, taper = shape
    reach = 0.5 * abs(width - 1) + 0.25 * abs(taper) * width + abs(bow) * width + 0.5 * np.tan(np.radians(abs(slant)))
    assert np.abs(bent[:, 0] - p[:, 0]).max() <= reach + 1e-9


STILL = dict(elastic_alpha=0.0, jitter=0.0, slant=(0.0, 0.0), rotation=(0.0, 0.0), aspect=(1.0, 1.0),
             stroke_width=(3.0, 3.0), stroke_width_jitter=0.0)


@pytest.mark.parametrize("taper", [1.5, 2.5, 4.0])
def test_a_pen_lifting_off_narrows_the_ends_of_a_stroke(taper):
    """``taper``: a plain 1's two ends lose ink, its middle keeps its width; 0 draws round full ends."""
    rows = {t: render_allograph(1, "bar", item_rng(0, "taper", 0), DigitStyle(taper=t, **STILL)).astype(int).sum(axis=1)
            for t in (0.0, taper)}
    ends, middles = {}, {}
    for t, ink in rows.items():  # each image's own rows: a shorter ink box is scaled up, and recentred
        inked = np.nonzero(ink)[0]
        top, bottom = inked[0], inked[-1]
        ends[t] = (ink[top : top + 2].sum() + ink[bottom - 1 : bottom + 1].sum()) / 4
        middles[t] = ink[(top + bottom) // 2 - 2 : (top + bottom) // 2 + 3].mean()
    assert ends[taper] / middles[taper] < 0.8 * ends[0.0] / middles[0.0]
    assert middles[taper] == pytest.approx(middles[0.0], rel=0.12)


@pytest.mark.parametrize("spread", [0.4, 1.0])
def test_jitter_spread_draws_some_digits_clean_and_some_wobbly(spread):
    """``jitter_spread``: a digit's control points move the style's jitter times a factor of its own,
    log-uniform in [exp(-s), exp(s)]; the rest of the digit is drawn as with no spread."""
    from datumaro_mnist_plugins.synthetic.strokes import _GLYPHS, _draw_pen

    glyph = _GLYPHS[8][0][0]
    factors = []
    for index in range(400):
        pens = []
        for style in (DigitStyle(jitter_spread=0.0), DigitStyle(jitter_spread=spread)):
            rng = item_rng(0, "spread", index)
            pens.append(_draw_pen(glyph, rng.random(5).tolist(), rng, style))
        ratio = pens[1].jitter / pens[0].jitter
        assert np.allclose(ratio, ratio.flat[0])  # one factor a digit
        assert pens[1].widths == pens[0].widths and pens[1].linear == pens[0].linear
        factors.append(float(ratio.flat[0]))
    logs = np.log(factors) / spread
    assert logs.min() >= -1 - 1e-9 and logs.max() <= 1 + 1e-9
    assert logs.min() < -0.9 and logs.max() > 0.9 and abs(logs.mean()) < 0.1  # uniform over the range


def test_only_ends_where_the_pen_lifts_narrow():
    """A corner two strokes share (a 7's, a flagged 1's) is one motion of the pen: it keeps its width,
    and a loop has no end at all. Straight strokes (bars, flags) keep round ends."""
    from datumaro_mnist_plugins.synthetic.strokes import _compile
    from datumaro_mnist_plugins.synthetic.tips import TIP_WIDTH, tapered_tips

    neutral = (0.0, 1.0, 0.0, 0.0, 0.0)
    seven = _compile("7", [[(0.1, 0.0), (0.9, 0.0)], [(0.9, 0.0), (0.6, 0.5), (0.4, 1.0)]], neutral)
    loop = _compile("0", [[(0.5, 0.0), (0.9, 0.5), (0.5, 1.0), (0.1, 0.5), (0.5, 0.0)]], neutral)
    assert seven.free_ends == ((True, False), (False, True)) and loop.free_ends == ((False, False),)
    assert [i for i, *_ in seven.tapered] == [1] and loop.tapered == ()  # the stem: a curve with a free end
    path = seven.spline @ seven.points * 100.0  # scan pixels
    bar, stem = (path[a:b] for a, b in zip(seven.bounds, seven.bounds[1:]))
    padded = np.vstack([bar, np.repeat(bar[-1:], len(stem) - len(bar), axis=0)])  # as a block pads it
    tips = tapered_tips(np.stack([padded, stem]), [len(bar), len(stem)], np.array(seven.free_ends),
                        np.array([10.0, 10.0]), taper=20.0)
    (bar_start,), (stem_end,) = (tip.dots for tip in tips)  # a dot only where the pen lifts
    assert bar_start[2] == stem_end[2] == pytest.approx(10.0 * TIP_WIDTH / 2 - 0.5)
    assert bar_start[:2] == pytest.approx(bar[0].tolist()) and stem_end[:2] == pytest.approx(stem[-1].tolist())
    assert tips[0].tail == [] and tips[0].span[1] == len(bar)  # the corner: the stroke's own last point
    assert tips[1].head == [] and tips[1].span[0] == 0
    assert [len(tip.outlines) for tip in tips] == [1, 1]


@pytest.mark.parametrize("factor, knob", [("jitter", "jitter"), ("elastic", "elastic_alpha")])
def test_a_class_factor_scales_its_style_knob(factor, knob):
    """A glyph compiled with a class's factor (CLASS_JITTER, CLASS_ELASTIC) draws what the style would at
    that share of its knob, and every allograph carries its class's factor: 1s (a straight stroke that
    jitter and the elastic field only bend) get less of both."""
    from datumaro_mnist_plugins.synthetic import allographs
    from datumaro_mnist_plugins.synthetic.strokes import _GLYPHS, _compile, _render

    table = getattr(allographs, "CLASS_" + factor.upper())
    assert table[1] < 1.0
    assert all(getattr(glyph, factor) == table[digit] for digit in range(10) for glyph in _GLYPHS[digit][0])
    neutral = (0.0, 1.0, 0.0, 0.0, 0.0)
    bar = [[(0.5, 0.0), (0.5, 0.5), (0.5, 1.0)]]
    half, full = _compile("1", bar, neutral, **{factor: 0.5}), _compile("1", bar, neutral)

    def drawn(glyph, **style):
        return [np.asarray(_render(glyph, item_rng(1, "train", i), DigitStyle(**style)).coverage) for i in range(20)]

    style = {"jitter": 0.1, "elastic_alpha": 40.0}
    assert all(map(np.array_equal, drawn(half, **style), drawn(full, **{**style, knob: style[knob] / 2})))
    assert not all(map(np.array_equal, drawn(half, **style), drawn(full, **style)))
