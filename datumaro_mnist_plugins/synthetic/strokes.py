"""Synthetic handwritten digits drawn from pen-stroke models, MNIST-like, in pure numpy + Pillow.

Why it is built this way:

* Each digit class has several *allographs* (the ways people write it: a 1 with or without flag, a 7
  with or without bar, an open or closed 4, ...). An allograph is a few pen strokes through control
  points in a unit box (x right, y down). The table :data:`ALLOGRAPHS` (:mod:`.allographs`) is plain
  data; nothing about a particular digit is hidden in code.
* Strokes are Catmull-Rom splines. The spline is linear in its control points, so every allograph is
  compiled once into a matrix that maps its (jittered) control points to a dense polyline: a sample
  costs one small matrix product, which keeps generation fast (thousands of digits per second on one
  core).
* A sample jitters the control points (points shared by two strokes stay shared: a corner stays a
  corner, a pen lift stays a gap), applies slant, rotation and aspect (plus a per-class slant and width
  calibrated on MNIST's statistics, :data:`CLASS_SHAPE`), and bends the pen path with an elastic
  distortion (Simard, Steinkraus & Platt, 2003: a uniform [-1, 1] displacement field smoothed by a
  Gaussian of width sigma and scaled by alpha). The field moves the path's points rather than
  resampling the image, which would blur away the solid stroke core MNIST digits have.
* Then it is normalized the way MNIST was: the inked bounding box fitted into 20x20 keeping the aspect
  ratio, drawn anti-aliased (4x supersampling then a box filter), and placed in 28x28 by a whole-pixel
  translation that puts the centre of mass at the centre.

Everything a sample does is drawn from the ``numpy.random.Generator`` it is given, so
:func:`item_rng` (:mod:`.style`, with :class:`DigitStyle`) makes an item's pixels a function of
``(seed, subset, index)`` alone.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .allographs import ALLOGRAPHS, CLASS_SHAPE, DIGIT_CLASSES, Point, Stroke
from .style import DigitStyle, item_rng

__all__ = ["ALLOGRAPHS", "CLASS_SHAPE", "DIGIT_CLASSES", "DigitStyle", "item_rng", "render_allograph", "render_digit"]

# --- compiled glyphs --------------------------------------------------------------------------------

#: Resolution of the binary "scan", in scan pixels per output pixel (MNIST: NIST's ~128-px digits
#: into 20 px, about 6; 5 keeps the drawing cheap, and the edge spread in _normalize fills the levels in).
_SUPERSAMPLE = 5
#: Catmull-Rom samples per segment between two control points.
_SAMPLES = 6
#: MNIST fits each digit's bounding box into 20x20 of the 28x28 image.
_BOX_FRACTION = 20.0 / 28.0
#: Grey level of a digit's fully inked pixels, and how often: in real MNIST one level per digit,
#: mostly 252-254 (measured on real digits, the share of digits whose full pixels peak at each level).
_PEAK_LEVELS = ((251, 0.017), (252, 0.208), (253, 0.407), (254, 0.317), (255, 0.051))
#: Per peak level, the table from a pixel's ink coverage (0-255) to its grey level (rounded).
_PEAK_TABLES = [((np.arange(256) * level + 127) // 255).astype(np.uint8).tolist() for level, _ in _PEAK_LEVELS]
_PEAK_CUMULATIVE = (np.cumsum([share for _, share in _PEAK_LEVELS]) / sum(s for _, s in _PEAK_LEVELS)).tolist()
#: Share of the fully inked pixels at 255 nonetheless (real MNIST: about 1 in 20, 1-2 a digit).
_SATURATED = 0.054


def _catmull_rom_rows(count: int, closed: bool) -> np.ndarray:
    """Weights (n_out x count) mapping a stroke's control points to a dense Catmull-Rom polyline."""
    if count == 2:  # a straight stroke needs only its ends
        return np.eye(2)
    t = (np.arange(_SAMPLES) / _SAMPLES)[:, None]
    basis = 0.5 * np.hstack([-t + 2 * t**2 - t**3, 2 - 5 * t**2 + 3 * t**3, t + 4 * t**2 - 3 * t**3, -(t**2) + t**3])
    # The control points plus a phantom one at each end, as combinations of the real ones.
    ext = np.zeros((count + 2, count))
    ext[1:-1] = np.eye(count)
    if closed:  # the last point repeats the first: wrap around, so the closure is smooth
        ext[0, count - 2] = 1
        ext[-1, 1] = 1
    else:  # reflect: the curve leaves its ends along the first/last segment
        ext[0, 0], ext[0, 1] = 2, -1
        ext[-1, -1], ext[-1, -2] = 2, -1
    rows = [basis @ ext[i : i + 4] for i in range(count - 1)]
    rows.append(ext[count][None])  # the last point itself
    return np.vstack(rows)


@dataclass(frozen=True)
class _Glyph:
    """An allograph compiled for fast sampling."""

    name: str
    points: np.ndarray  # (k, 2) distinct control points
    spline: np.ndarray  # (n, k): dense polyline = spline @ points
    bounds: Tuple[int, ...]  # stroke i is dense[bounds[i]:bounds[i + 1]]
    open_strokes: Tuple[bool, ...]  # strokes with two ends (a closed loop needs no round pen ends)


def _class_warp(points: np.ndarray, shape: Tuple[float, ...]) -> np.ndarray:
    """Unit-box points bent by a class's :data:`CLASS_SHAPE`: ``waist`` moves the middle down
    (``sin(pi y)``: a 6's loop shrinks, a 9's grows), ``bow`` bends the middle right, ``taper`` widens
    the top and narrows the bottom; then ``width`` and ``slant`` (a shear about the centre)."""
    slant, width, waist, bow, taper = shape
    x, y = points[:, 0] - 0.5, points[:, 1]
    bend = np.sin(np.pi * np.clip(y, 0.0, 1.0))
    x = (x * (1.0 + taper * (0.5 - y)) + bow * bend) * width - math.tan(math.radians(slant)) * (y - 0.5)
    return np.stack([x + 0.5, y + waist * bend], axis=1)


def _compile(name: str, strokes: Sequence[Stroke], shape: Tuple[float, ...]) -> _Glyph:
    """Compile an allograph, its points bent by the class's *shape* (:func:`_class_warp`)."""
    keys: Dict[Point, int] = {}
    for stroke in strokes:
        for point in stroke:
            keys.setdefault(tuple(point), len(keys))
    blocks: List[np.ndarray] = []
    bounds = [0]
    open_strokes = []
    for stroke in strokes:
        index = [keys[tuple(p)] for p in stroke]
        open_strokes.append(index[0] != index[-1])
        rows = _catmull_rom_rows(len(index), not open_strokes[-1])
        block = np.zeros((len(rows), len(keys)))
        np.add.at(block.T, index, rows.T)
        blocks.append(block)
        bounds.append(bounds[-1] + len(rows))
    points = _class_warp(np.array(list(keys), dtype=np.float64), shape)
    return _Glyph(name, points, np.vstack(blocks), tuple(bounds), tuple(open_strokes))


def _compile_table() -> Tuple[Tuple[Tuple[_Glyph, ...], List[float]], ...]:
    """Per digit: its compiled allographs and their cumulative probabilities."""
    table = []
    for digit in range(len(DIGIT_CLASSES)):
        variants = ALLOGRAPHS[digit]
        weights = np.array([weight for weight, _ in variants.values()], dtype=np.float64)
        glyphs = tuple(_compile(name, strokes, CLASS_SHAPE[digit]) for name, (_, strokes) in variants.items())
        table.append((glyphs, (np.cumsum(weights) / weights.sum()).tolist()))
    return tuple(table)


_GLYPHS = _compile_table()


#: The elastic field is read at pen positions rounded to this fraction of a pixel.
_FIELD_STEPS = 8


@lru_cache(maxsize=16)
def _gaussian_rows(size: int, sigma: float) -> np.ndarray:
    """Row ``r``: normalized Gaussian weights over pixels ``0..size-1`` centred at ``r / _FIELD_STEPS``.

    Smoothing a per-pixel field with a Gaussian and reading it at a point is then one row per axis
    (the Gaussian is separable): Simard's smoothing without scipy, and exact at the points instead of
    interpolated between pixels.
    """
    centres = np.arange(size * _FIELD_STEPS) / _FIELD_STEPS
    g = np.exp(-0.5 * ((centres[:, None] - np.arange(size)[None, :]) / sigma) ** 2)
    return g / g.sum(axis=1, keepdims=True)


@lru_cache(maxsize=16)
def _grid(size: int) -> np.ndarray:
    """Pixel coordinates 0..size-1, for centres of mass."""
    return np.arange(size, dtype=np.float64)


# --- rendering --------------------------------------------------------------------------------------


def _elastic(dense: np.ndarray, rng: np.random.Generator, size: int, alpha: float, sigma: float) -> np.ndarray:
    """Move pen points, given in units of ``1 / _FIELD_STEPS`` pixel of a ``size`` image, by a Simard
    elastic displacement field (in the same units, up to a constant shift).

    The field is Simard's: uniform [-1, 1] per pixel, smoothed by a Gaussian of width sigma, scaled by
    alpha. It moves the pen's path, as a writer's hand wobbles, instead of resampling the image: an
    image resampled at 28x28 loses the solid stroke core MNIST digits have (a classifier trained on
    that blur does worse on real digits), and only the path's points need the field at all. The
    field's constant part (-alpha) is left out: the box fit that follows removes any shift.
    """
    rows = _gaussian_rows(size, sigma)
    weights_x, weights_y = rows.take(dense.T.astype(np.intp), axis=0, mode="clip")  # each (n, size)
    uniform = rng.random((2, size, size))  # [dx or dy, row, column], in [0, 1)
    smoothed = ((weights_y @ uniform) * weights_x).sum(axis=2)  # (2, n), a weighted mean of [0, 1)
    return dense + smoothed.T * (2.0 * alpha * _FIELD_STEPS)


def _fit_box(dense: np.ndarray, box: float, centre: float, scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """Scale and move points so their bounding box fits a ``box``-wide square centred on ``centre``,
    keeping the aspect ratio (MNIST's size normalization); then ``* scale + offset`` (a change of
    units, folded in)."""
    (x0, y0), (x1, y1) = dense.min(axis=0).tolist(), dense.max(axis=0).tolist()
    factor = box / max(x1 - x0, y1 - y0, 1e-6)
    shift = np.array([centre - (x0 + x1) * 0.5 * factor, centre - (y0 + y1) * 0.5 * factor]) * scale + offset
    return dense * (factor * scale) + shift


def _draw(canvas_points: np.ndarray, glyph: _Glyph, widths: List[float], canvas_size: int) -> Image.Image:
    """Draw the strokes, given in canvas coordinates, in binary ink on a ``canvas_size`` square: the
    "scan" MNIST's digits were normalized from (NIST's were binary, at a few times MNIST's resolution)."""
    canvas = Image.new("L", (canvas_size, canvas_size), 0)
    draw = ImageDraw.Draw(canvas)
    flat = canvas_points.ravel().tolist()
    bounds = glyph.bounds
    for start, stop, pen, has_ends in zip(bounds, bounds[1:], widths, glyph.open_strokes):
        draw.line(flat[2 * start : 2 * stop], fill=255, width=max(1, int(pen + 0.5)))
        if has_ends:  # round pen ends: a plain wide line ends square
            r = pen / 2.0 - 0.5
            for j in (2 * start, 2 * stop - 2):
                x, y = flat[j], flat[j + 1]
                draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return canvas


def _normalize(canvas: Image.Image, box: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """MNIST's size normalization of a binary scan: the square around its inked bounding box,
    area-averaged into ``box`` x ``box`` pixels (the aspect ratio kept,
    the longest side spanning the box), written with MNIST's ink levels in the middle of ``size`` x
    ``size``.

    Area averaging at a non-integer ratio gives MNIST's many grey levels at the stroke edges; full
    pixels get the levels real MNIST strokes have (mostly 252-254, seldom 255: :data:`_PEAK_LEVELS`).
    """
    x0, y0, x1, y1 = canvas.getbbox() or (0, 0, 1, 1)
    side = max(x1 - x0, y1 - y0)
    limit = canvas.size[0] - side  # the square stays on the canvas (drawn centred, with a margin)
    left = min(max((x0 + x1 - side) / 2.0, 0.0), limit)
    top = min(max((y0 + y1 - side) / 2.0, 0.0), limit)
    small = canvas.resize((box, box), Image.BOX, box=(left, top, left + side, top + side))
    peak = min(bisect.bisect_right(_PEAK_CUMULATIVE, rng.random()), len(_PEAK_TABLES) - 1)
    coverage = np.frombuffer(small.tobytes(), dtype=np.uint8)
    scaled = np.frombuffer(small.point(_PEAK_TABLES[peak]).tobytes(), dtype=np.uint8).reshape(box, box).copy()
    u_pixel = rng.random(box * box)
    full = coverage == 255
    scaled.flat[full & (u_pixel < _SATURATED)] = 255
    # A scan pixel is a coverage step of about 255 / _SUPERSAMPLE**2: spread edge pixels over most of
    # a step, as the continuous coverage of a real pen edge would (MNIST: ~70 grey levels a digit).
    edge = np.flatnonzero((coverage > 0) & ~full)
    step = 0.75 * 255.0 / _SUPERSAMPLE**2
    spread = scaled.flat[edge] + (u_pixel[edge] - 0.5) * step
    scaled.flat[edge] = np.clip(spread + 0.5, 1, _PEAK_LEVELS[peak][0])
    image = np.zeros((size, size), dtype=np.uint8)
    at = (size - box) // 2
    image[at : at + box, at : at + box] = scaled
    return image


def _centre_by_mass(image: np.ndarray) -> np.ndarray:
    """Translate by whole pixels so the centre of mass lands on pixel (size/2, size/2), as MNIST did
    (its centres of mass spread +-0.5 pixel around the centre)."""
    size = image.shape[0]
    columns, rows = image.sum(axis=0), image.sum(axis=1)
    mass = float(columns.sum())
    if mass <= 0:
        return image
    grid = _grid(size)
    dx = int(round(size / 2.0 - float(columns @ grid) / mass))
    dy = int(round(size / 2.0 - float(rows @ grid) / mass))
    if dx == 0 and dy == 0:
        return image
    out = np.zeros_like(image)
    out[max(dy, 0) : size + min(dy, 0), max(dx, 0) : size + min(dx, 0)] = \
        image[max(-dy, 0) : size + min(-dy, 0), max(-dx, 0) : size + min(-dx, 0)]
    return out


def _pick(bounds: Tuple[float, float], x: float) -> float:
    """The point at fraction *x* of the range *bounds*."""
    return bounds[0] + (bounds[1] - bounds[0]) * x


def _check_digit(digit: int) -> int:
    if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or not 0 <= digit < len(DIGIT_CLASSES):
        raise ValueError(f"digit: {digit!r} is not allowed; use an integer 0-9")
    return int(digit)


def render_digit(digit: int, rng: np.random.Generator, style: DigitStyle = DigitStyle()) -> np.ndarray:
    """One handwritten-looking *digit* (0-9): uint8 ``(image_size, image_size)``, bright ink on black.

    The allograph is drawn at random with the table's frequencies; everything comes from *rng*."""
    glyphs, cumulative = _GLYPHS[_check_digit(digit)]
    u_glyph = float(rng.random())
    return _render(glyphs[min(bisect.bisect_right(cumulative, u_glyph), len(glyphs) - 1)], rng, style)


def render_allograph(digit: int, name: str, rng: np.random.Generator, style: DigitStyle = DigitStyle()) -> np.ndarray:
    """Like :func:`render_digit` with a given allograph (a name in ``ALLOGRAPHS[digit]``): for contact
    sheets and tests."""
    glyphs, _ = _GLYPHS[_check_digit(digit)]
    for glyph in glyphs:
        if glyph.name == name:
            return _render(glyph, rng, style)
    raise ValueError(f"name: {name!r} is not an allograph of {digit}; use one of {sorted(ALLOGRAPHS[digit])}")


def _render(glyph: _Glyph, rng: np.random.Generator, style: DigitStyle) -> np.ndarray:
    """Pen path -> elastic wobble -> MNIST box fit -> anti-aliased drawing -> centre of mass."""
    u_slant, u_rotation, u_aspect, u_width, u_scale = rng.random(5).tolist()
    # Pen path: jitter the control points, then slant, stretch and rotate the whole glyph.
    shear = math.tan(math.radians(_pick(style.slant, u_slant)))
    angle = math.radians(_pick(style.rotation, u_rotation))
    aspect = _pick(style.aspect, u_aspect)
    cos, sin = math.cos(angle), math.sin(angle)
    # rotation @ [[aspect, -shear], [0, 1]]; y is down, so a positive slant moves the top (small y)
    # to the right, and a positive rotation is clockwise.
    linear = np.array([[cos * aspect, sin * aspect], [-cos * shear - sin, cos - sin * shear]])  # transposed
    points = glyph.points + rng.standard_normal(glyph.points.shape) * style.jitter
    dense = glyph.spline @ (points @ linear)

    size = style.image_size
    unit = size / 28.0
    box = max(int(round(_BOX_FRACTION * size * _pick(style.scale, u_scale))), 1)
    width = _pick(style.stroke_width, u_width) * unit
    # The pen's centre line gets the box less a pen width, so its ink spans about the box (the scan
    # is normalized on its ink's bounding box anyway).
    line_box = max(box - width, 1.0)
    if style.elastic_alpha > 0:  # distort at the scale it is drawn (in field units), then refit
        dense = _fit_box(dense, line_box, size / 2.0, _FIELD_STEPS, 0.5)
        dense = _elastic(dense, rng, size, style.elastic_alpha * unit, style.elastic_sigma * unit)
    jitter = style.stroke_width_jitter
    widths = [max(width * (1.0 + jitter * z), 0.5) * _SUPERSAMPLE
              for z in rng.standard_normal(len(glyph.bounds) - 1).tolist()]
    # To scan coordinates: _SUPERSAMPLE scan pixels a pixel, the ink's box centred on the canvas.
    side = line_box * _SUPERSAMPLE + max(widths)
    canvas = int(side) + 2 * _SUPERSAMPLE
    dense = _fit_box(dense, line_box * _SUPERSAMPLE, canvas / 2.0)
    image = _centre_by_mass(_normalize(_draw(dense, glyph, widths, canvas), box, size, rng))
    if style.noise > 0:
        noisy = image + rng.normal(0.0, style.noise * 255.0, image.shape)
        return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
    return image
