"""The renderer's fast paths give what the plain ones give: strokes drawn through Pillow's core calls are
what ``ImageDraw`` draws, a reused canvas is blank again, one call of uniforms is three, and the block
finish (saturation by partition, centring by shift group) is the per-digit rule."""

import numpy as np
from hypothesis import given, settings, strategies as st
from PIL import Image, ImageDraw

from datumaro_mnist_plugins.synthetic import raster
from datumaro_mnist_plugins.synthetic.strokes import DigitStyle

SIDE = 60
#: ink stays inside the canvas, as the renderer's margin (a pen width and two scan pixels) keeps it: a
#: stroke reaching past the edge is clipped on a fresh canvas but not on a larger reused one
coordinates = st.floats(8.0, SIDE - 8.0, allow_nan=False)
#: pens of at least 2.5 scan pixels, as the renderer draws them (half a pixel of a 28-pixel digit)
strokes = st.lists(st.tuples(st.lists(st.tuples(coordinates, coordinates), min_size=2, max_size=8),
                             st.floats(2.5, 9.0), st.booleans()), min_size=1, max_size=3)


def with_image_draw(parts) -> np.ndarray:
    """The strokes drawn with ImageDraw's public calls (the renderer's meaning of a pen stroke)."""
    canvas = Image.new("L", (SIDE, SIDE), 0)
    draw = ImageDraw.Draw(canvas)
    for points, pen, has_ends in parts:
        draw.line([c for point in points for c in point], fill=255, width=max(1, int(pen + 0.5)))
        if has_ends:
            r = pen / 2.0 - 0.5
            for x, y in (points[0], points[-1]):
                draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(canvas)


def as_path(parts):
    points = np.array([point for stroke, _, _ in parts for point in stroke], dtype=np.float64)
    bounds = np.cumsum([0] + [len(stroke) for stroke, _, _ in parts]).tolist()
    return points, bounds, [has_ends for _, _, has_ends in parts], [pen for _, pen, _ in parts]


@settings(max_examples=60, deadline=None)
@given(parts=strokes)
def test_strokes_drawn_by_core_calls_are_what_image_draw_draws(parts):
    points, bounds, ends, widths = as_path(parts)
    drawn = raster.draw_scan(points, bounds, ends, widths, SIDE)
    assert np.array_equal(np.asarray(drawn), with_image_draw(parts))


@settings(max_examples=40, deadline=None)
@given(first=strokes, second=strokes, box=st.integers(1, 24))
def test_a_scan_on_the_reused_canvas_is_the_scan_on_a_fresh_one(first, second, box):
    raster.scan(*as_path(first), SIDE, box)  # leaves the thread's canvas to be cleared
    reused = raster.scan(*as_path(second), SIDE, box)
    fresh = raster.draw_scan(*as_path(second), SIDE)
    inked = fresh.getbbox() or (0, 0, 1, 1)
    expected = raster._box_average(fresh.im, inked, SIDE, box)
    assert reused.size == (box, box)
    assert bytes(Image.Image()._new(reused).tobytes()) == Image.Image()._new(expected).tobytes()
    assert raster._blank_canvas(SIDE)[0].getbbox() is None


@settings(deadline=None)
@given(seed=st.integers(0, 2**32 - 1), box=st.integers(1, 30), noise=st.sampled_from([0.0, 0.2]))
def test_finish_numbers_are_the_three_draws_in_a_row(seed, box, noise):
    style = DigitStyle(noise=noise)
    peak, u_pixel, u_digit, drawn_noise, tone = raster.finish_numbers(np.random.default_rng(seed), box, style)
    assert tone is None  # MNIST's grey profile: no tone step, no numbers drawn for it
    rng = np.random.default_rng(seed)
    first = rng.random()
    assert peak == min(np.searchsorted(raster._PEAK_CUMULATIVE, first, side="right"), len(raster._PEAK_LEVELS) - 1)
    assert u_pixel.tolist() == rng.random(box * box).tolist() and u_digit.tolist() == rng.random(4).tolist()
    if noise:
        assert drawn_noise.tolist() == rng.normal(0.0, noise * 255.0, (28, 28)).tolist()
    else:
        assert drawn_noise is None


def saturate_by_stable_sort(levels, full, u_pixel, u_saturated, box):
    """The rule _saturate implements: the best-scored full pixels (lattice first), a stable full sort."""
    counts = np.searchsorted(raster._SATURATED_CUMULATIVE, u_saturated[:, 0], side="right")
    step = max(2, round(box / raster._LATTICE_STEPS))
    phase = (u_saturated[:, 1:] * step).astype(np.intp)
    index = np.arange(box)
    lattice = (((index[None, :] - phase[:, :1]) % step == 0)[:, :, None]
               & ((index[None, :] - phase[:, 1:]) % step == 0)[:, None, :]).reshape(len(levels), -1)
    for row in range(len(levels)):
        score = np.where(full[row], 1.0 + lattice[row] + u_pixel[row], 0.0)
        for pixel in np.argsort(-score, kind="stable")[: counts[row]]:
            if full[row, pixel]:
                levels[row, pixel] = 255


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), box=st.integers(1, 22), count=st.integers(1, 9),
       share=st.floats(0.0, 1.0), ties=st.booleans())
def test_saturation_by_partition_is_the_stable_sort(seed, box, count, share, ties):
    rng = np.random.default_rng(seed)
    full = rng.random((count, box * box)) < share
    u_pixel = rng.random((count, box * box))
    if ties:  # equal uniforms: the earlier pixel first, as a stable sort has it
        u_pixel = np.round(u_pixel, 1)
    u_saturated = rng.random((count, 3))
    levels = rng.integers(0, 255, (count, box * box)).astype(np.uint8)
    expected = levels.copy()
    saturate_by_stable_sort(expected, full, u_pixel, u_saturated, box)
    raster._saturate(levels, full, u_pixel, u_saturated, box)
    assert np.array_equal(levels, expected)


def centre_one_by_one(images):
    size = images.shape[1]
    out = images.copy()
    for image in out:
        mass = int(image.sum(dtype=np.int64))
        if not mass:
            continue
        grid = np.arange(size, dtype=np.float64)
        x = int(np.rint(size / 2.0 - (image.sum(axis=0, dtype=np.int64) @ grid) / mass))
        y = int(np.rint(size / 2.0 - (image.sum(axis=1, dtype=np.int64) @ grid) / mass))
        moved = np.zeros_like(image)
        moved[max(y, 0) : size + min(y, 0), max(x, 0) : size + min(x, 0)] = \
            image[max(-y, 0) : size + min(-y, 0), max(-x, 0) : size + min(-x, 0)]
        image[...] = moved
    return out


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 12), count=st.integers(1, 12), blanks=st.booleans())
def test_centring_by_shift_group_moves_each_image_by_its_own_shift(seed, size, count, blanks):
    rng = np.random.default_rng(seed)
    images = (rng.random((count, size, size)) < rng.random((count, 1, 1))) * rng.integers(1, 256, (count, size, size))
    images = images.astype(np.uint8)
    if blanks:
        images[::2] = 0
    assert np.array_equal(raster._centre_by_mass(images.copy()), centre_one_by_one(images))


@settings(deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 6), width=st.integers(1, 40), most=st.integers(1, 8),
       levels=st.integers(1, 6))
def test_the_first_of_a_partition_are_the_first_of_a_stable_sort(seed, rows, width, most, levels):
    score = -np.random.default_rng(seed).integers(0, levels, (rows, width)).astype(np.float64)  # many ties
    expected = np.argsort(score, axis=1, kind="stable")[:, :most]
    assert np.array_equal(raster._first_sorted(score, most), expected)
