"""The raster half of the renderer: a pen path in, MNIST-normalized pixels out (numpy + Pillow).

Why it is built this way (see :mod:`.strokes` for the pen paths):

* The elastic wobble (Simard, Steinkraus & Platt, 2003) moves the path's points, not the image's pixels:
  resampling a 28x28 image blurs away the solid stroke core MNIST digits have.
* The path is drawn in binary ink at ``SUPERSAMPLE`` times the output resolution (a "scan", as NIST's
  digits were binary), then normalized the way MNIST was: the square around its inked box area-averaged
  into 20x20 (aspect kept, the longest side spanning the box), full pixels at one of MNIST's peak ink
  levels, and placed in 28x28 by the whole-pixel shift that puts the centre of mass at the centre.

Every random number comes from the ``numpy.random.Generator`` passed in, in a fixed order, so the pixels
are a function of the item's stream alone.
"""

from __future__ import annotations

import bisect
import threading
from functools import lru_cache
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

#: Resolution of the binary "scan", in scan pixels per output pixel (MNIST: NIST's ~128-px digits
#: into 20 px, about 6; 5 keeps the drawing cheap, and the edge spread in normalize fills the levels in).
SUPERSAMPLE = 5
#: MNIST fits each digit's bounding box into 20x20 of the 28x28 image.
BOX_FRACTION = 20.0 / 28.0
#: Grey level of a digit's fully inked pixels, and how often: in real MNIST one level per digit,
#: mostly 252-254 (measured on real digits, the share of digits whose full pixels peak at each level).
_PEAK_LEVELS = ((251, 0.017), (252, 0.208), (253, 0.407), (254, 0.317), (255, 0.051))
#: Per peak level, the table from a pixel's ink coverage (0-255) to its grey level (rounded), one
#: after the other (level k's table starts at k * 256).
_PEAK_LUT = np.concatenate([(np.arange(256) * level + 127) // 255 for level, _ in _PEAK_LEVELS]).astype(np.uint8)
_PEAK_VALUES = np.array([level for level, _ in _PEAK_LEVELS], dtype=np.float64)
_PEAK_CUMULATIVE = (np.cumsum([share for _, share in _PEAK_LEVELS]) / sum(s for _, s in _PEAK_LEVELS)).tolist()
#: A digit's second level of full pixels (the next one towards 253.5), and at most what share of them.
_SECOND_LEVELS = np.array([level + 1 if level < 254 else level - (level == 254) for level, _ in _PEAK_LEVELS],
                          dtype=np.uint8)
_SECOND_SHARE = 0.45
#: How many full pixels are at 255 nonetheless in a digit whose peak is below 255 (0, 1, 2, ... 6), and
#: how often: real MNIST has 1-2 whatever the digit's size (first half of mnist-dev; the second agrees).
_SATURATED_CUMULATIVE = np.cumsum((0.105, 0.606, 0.172, 0.063, 0.030, 0.015, 0.009))[:-1]
#: Those 255s sit on a lattice of every ``box / _LATTICE_STEPS`` pixels (5 in MNIST's 20-px box): NIST's
#: 128-px scans went into 20 px, 6.4 scan pixels to one, so every 5th pixel's footprint aligns with the
#: scan grid and a full one sums to exactly 255 (in real digits two 255s are mostly 5 or 10 px apart).
_LATTICE_STEPS = 4

#: The elastic field is read at pen positions rounded to this fraction of a pixel.
FIELD_STEPS = 8


@lru_cache(maxsize=16)
def _gaussian_rows(size: int, sigma: float) -> np.ndarray:
    """Row ``r``: normalized Gaussian weights over pixels ``0..size-1`` centred at ``r / FIELD_STEPS``.

    Smoothing a per-pixel field with a Gaussian and reading it at a point is then one row per axis
    (the Gaussian is separable): Simard's smoothing without scipy, and exact at the points instead of
    interpolated between pixels.
    """
    centres = np.arange(size * FIELD_STEPS) / FIELD_STEPS
    g = np.exp(-0.5 * ((centres[:, None] - np.arange(size)[None, :]) / sigma) ** 2)
    return g / g.sum(axis=1, keepdims=True)


@lru_cache(maxsize=16)
def _grid(size: int) -> np.ndarray:
    """Pixel coordinates 0..size-1, for centres of mass."""
    return np.arange(size, dtype=np.float64)



def elastic(dense: np.ndarray, field: np.ndarray, size: int, alpha: float, sigma: float) -> np.ndarray:
    """Move the pen points of a batch of paths (``B x n x 2``), given in units of ``1 / FIELD_STEPS``
    pixel of a ``size`` image, by Simard elastic displacement fields (in the same units, up to a
    constant shift); *field* holds each path's uniforms in [0, 1), ``B x 2 x size x size`` ([dx or dy,
    row, column]).

    The field is Simard's: uniform [-1, 1] per pixel, smoothed by a Gaussian of width sigma, scaled by
    alpha. It moves the pen's path, as a writer's hand wobbles, instead of resampling the image: an
    image resampled at 28x28 loses the solid stroke core MNIST digits have (a classifier trained on
    that blur does worse on real digits), and only the path's points need the field at all. The
    field's constant part (-alpha) is left out: the box fit that follows removes any shift. A matrix
    product per path and a sum along rows: each path's numbers are the ones it gets alone.
    """
    rows = _gaussian_rows(size, sigma)
    cells = dense.astype(np.intp)
    weights_x = rows.take(cells[..., 0], axis=0, mode="clip")[:, None]  # each (B, 1, n, size)
    weights_y = rows.take(cells[..., 1], axis=0, mode="clip")[:, None]
    smoothed = np.add.reduce((weights_y @ field) * weights_x, axis=3)  # (B, 2, n), a weighted mean of [0, 1)
    return dense + smoothed.transpose(0, 2, 1) * (2.0 * alpha * FIELD_STEPS)


def fit_box(dense: np.ndarray, starts: np.ndarray, box, centre, scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """Scale and move each of the paths in *dense* (``N x 2``, path i from ``starts[i]`` on) so its
    bounding box fits a ``box``-wide square centred on ``centre`` (scalars or one per path), keeping
    the aspect ratio (MNIST's size normalization); then ``* scale + offset`` (a change of units, folded
    in). Exact minima and maxima, then elementwise: a path's numbers do not depend on the others."""
    low, high = np.minimum.reduceat(dense, starts, axis=0), np.maximum.reduceat(dense, starts, axis=0)
    factor = box / np.maximum(np.maximum.reduce(high - low, axis=1), 1e-6)
    shift = (np.reshape(centre, (-1, 1)) - (low + high) * 0.5 * factor[:, None]) * scale + offset
    counts = np.diff(starts, append=len(dense))
    return dense * np.repeat(factor * scale, counts)[:, None] + np.repeat(shift, counts, axis=0)


def draw_scan(canvas_points: np.ndarray, bounds: Sequence[int], open_strokes: Sequence[bool], widths: List[float],
              canvas_size: int) -> Image.Image:
    """Draw the strokes, given in canvas coordinates, in binary ink on a ``canvas_size`` square: the
    "scan" MNIST's digits were normalized from (NIST's were binary, at a few times MNIST's resolution)."""
    canvas = Image.new("L", (canvas_size, canvas_size), 0)
    _draw_strokes(ImageDraw.Draw(canvas), canvas_points, bounds, open_strokes, widths)
    return canvas


def _draw_strokes(draw: ImageDraw.ImageDraw, canvas_points: np.ndarray, bounds: Sequence[int],
                  open_strokes: Sequence[bool], widths: List[float]) -> None:
    flat = canvas_points.ravel().tolist()
    for start, stop, pen, has_ends in zip(bounds, bounds[1:], widths, open_strokes):
        draw.line(flat[2 * start : 2 * stop], fill=255, width=max(1, int(pen + 0.5)))
        if has_ends:  # round pen ends: a plain wide line ends square
            r = pen / 2.0 - 0.5
            for j in (2 * start, 2 * stop - 2):
                x, y = flat[j], flat[j + 1]
                draw.ellipse((x - r, y - r, x + r, y + r), fill=255)


#: Each thread's blank canvas, reused from digit to digit (drawing stays inside a digit's
#: ``canvas_size`` square, which is cleared after use): saves making an image and a drawing context.
_CANVAS = threading.local()


#: Canvases up to this side (1 MB) are kept; a larger one (a digit of a few hundred pixels) is not.
_KEPT_CANVAS = 1024


def _blank_canvas(canvas_size: int) -> Tuple[Image.Image, ImageDraw.ImageDraw]:
    canvas = getattr(_CANVAS, "image", None)
    if canvas is None or not canvas_size <= canvas.size[0] <= 2 * canvas_size:
        canvas = Image.new("L", (canvas_size, canvas_size), 0)
        draw = ImageDraw.Draw(canvas)
        if canvas_size > _KEPT_CANVAS:
            return canvas, draw
        _CANVAS.image, _CANVAS.draw = canvas, draw
    return canvas, _CANVAS.draw


class Scan(NamedTuple):
    """A digit drawn and box-averaged, with the random numbers its finish needs (drawn in the item's
    order, so the finish can be done for a whole block at once, elementwise)."""

    coverage: Image.Image  # box x box, mode L: ink coverage of each pixel of the box, 0-255
    box: int
    peak: int  # index into _PEAK_LEVELS
    u_pixel: np.ndarray  # (box * box,) uniforms: which full pixels saturate, edge spread
    u_digit: np.ndarray  # (4,) uniforms: how many full pixels are at 255, their lattice's row and column,
    # the share of full pixels at the second level
    noise: Optional[np.ndarray]  # (size, size) additive noise, or None


def scan(canvas_points: np.ndarray, bounds: Sequence[int], open_strokes: Sequence[bool], widths: List[float],
         canvas_size: int, box: int, rng: np.random.Generator, style) -> Scan:
    """Draw the pen path (:func:`draw_scan`), area-average its inked square into ``box`` x ``box``, and
    draw the random numbers :func:`finish` needs."""
    canvas, draw = _blank_canvas(canvas_size)
    try:
        _draw_strokes(draw, canvas_points, bounds, open_strokes, widths)
        coverage = _box_average(canvas, canvas_size, box)
    finally:
        canvas.paste(0, (0, 0, canvas_size, canvas_size))
    peak = min(bisect.bisect_right(_PEAK_CUMULATIVE, rng.random()), len(_PEAK_LEVELS) - 1)
    u_pixel = rng.random(box * box)
    u_digit = rng.random(4)
    size = style.image_size
    noise = rng.normal(0.0, style.noise * 255.0, (size, size)) if style.noise > 0 else None
    return Scan(coverage, box, peak, u_pixel, u_digit, noise)


def _box_average(canvas: Image.Image, canvas_size: int, box: int) -> Image.Image:
    """MNIST's size normalization of a binary scan (ink only in its top-left ``canvas_size`` square):
    the square around its inked bounding box, area-averaged into ``box`` x ``box`` pixels (the aspect
    ratio kept, the longest side spanning the box)."""
    x0, y0, x1, y1 = canvas.getbbox() or (0, 0, 1, 1)
    side = max(x1 - x0, y1 - y0)
    limit = canvas_size - side  # the square stays on the scan (drawn centred, with a margin)
    left = min(max((x0 + x1 - side) / 2.0, 0.0), limit)
    top = min(max((y0 + y1 - side) / 2.0, 0.0), limit)
    return canvas.resize((box, box), Image.BOX, box=(left, top, left + side, top + side))


def finish(scans: Sequence[Scan], size: int) -> np.ndarray:
    """The images of *scans*, ``N x size x size`` uint8: MNIST's ink levels, each box in the middle of
    the image, then centred by mass, then any noise.

    Every step is elementwise or exact (integer sums), so a digit's pixels do not depend on the
    others of its block: a block of one gives the same bytes.
    """
    images = np.zeros((len(scans), size, size), dtype=np.uint8)
    for box in sorted({s.box for s in scans}):
        rows = [i for i, s in enumerate(scans) if s.box == box]
        group = [scans[i] for i in rows]
        coverage = _side_by_side([s.coverage for s in group], box)
        u_pixel = np.stack([s.u_pixel for s in group])
        u_digit = np.stack([s.u_digit for s in group])
        levels = _ink_levels(coverage, np.array([s.peak for s in group]), u_pixel, u_digit[:, 3])
        _saturate(levels, coverage == 255, u_pixel, u_digit[:, :3], box)
        at = (size - box) // 2
        images[rows, at : at + box, at : at + box] = levels.reshape(len(rows), box, box)
    images = _centre_by_mass(images)
    noisy = [i for i, s in enumerate(scans) if s.noise is not None]
    if noisy:
        values = images[noisy] + np.stack([scans[i].noise for i in noisy])
        images[noisy] = np.clip(values + 0.5, 0, 255).astype(np.uint8)
    return images


def _side_by_side(images: Sequence[Image.Image], box: int) -> np.ndarray:
    """The pixels of ``box`` x ``box`` images, ``N x box*box``: pasted side by side, read in one go."""
    if len(images) == 1:
        return np.frombuffer(images[0].tobytes(), dtype=np.uint8)[None]
    strip = Image.new("L", (box * len(images), box))
    for k, image in enumerate(images):
        strip.paste(image, (k * box, 0))
    pixels = np.frombuffer(strip.tobytes(), dtype=np.uint8).reshape(box, len(images), box)
    return pixels.transpose(1, 0, 2).reshape(len(images), box * box)


def _ink_levels(coverage: np.ndarray, peaks: np.ndarray, u_pixel: np.ndarray, u_second: np.ndarray) -> np.ndarray:
    """Grey levels of box-averaged scans (``N x box*box``): full pixels at the digit's peak level (mostly
    252-254, seldom 255: :data:`_PEAK_LEVELS`) and some at the next, as real MNIST strokes.

    Area averaging at a non-integer ratio gives MNIST's many grey levels at the stroke edges.
    """
    scaled = _PEAK_LUT.take(coverage + (peaks * 256)[:, None])
    full = coverage == 255
    # Real full pixels mix the peak with the next level (252 with 253, 254 with 253): a share of
    # 0.45 u^2 a digit (median 0.11, as measured), never for a peak of 255
    second = _SECOND_LEVELS[peaks]
    mixed = full & (u_pixel < (_SECOND_SHARE * u_second**2)[:, None])
    scaled[mixed] = np.broadcast_to(second[:, None], scaled.shape)[mixed]
    # A scan pixel is a coverage step of about 255 / SUPERSAMPLE**2: spread edge pixels over most of
    # a step, as the continuous coverage of a real pen edge would (MNIST: ~70 grey levels a digit);
    # a pixel within two scan pixels of blank spreads down to 1, one within one of full up to the
    # peak, as MNIST's faint halo (levels 1-5: ~3 pixels a digit) and near-full pixels (246-251: ~4).
    rows, columns = np.nonzero((coverage > 0) & ~full)
    pixel = 255.0 / SUPERSAMPLE**2
    step, here, peak = 0.75 * pixel, coverage[rows, columns], _PEAK_VALUES[peaks[rows]]
    value = scaled[rows, columns].astype(np.float64)
    low = np.where(here <= 2 * pixel, 1.0, value - step / 2)
    high = np.where(here >= 255 - pixel, peak, value + step / 2)
    spread = low + u_pixel[rows, columns] * (high - low)
    scaled[rows, columns] = np.clip(spread + 0.5, 1, peak)
    return scaled


def _saturate(levels: np.ndarray, full: np.ndarray, u_pixel: np.ndarray, u_saturated: np.ndarray, box: int) -> None:
    """Set a few full pixels of each digit (rows of ``N x box*box``) to 255, in place: as many as
    :data:`_SATURATED_CUMULATIVE` draws, full pixels on the digit's lattice first, then any full ones."""
    counts = np.searchsorted(_SATURATED_CUMULATIVE, u_saturated[:, 0], side="right")
    most = min(int(counts.max(initial=0)), box * box)  # a tiny box has fewer pixels than the count drawn
    if most == 0:
        return
    step = max(2, round(box / _LATTICE_STEPS))
    phase = (u_saturated[:, 1:] * step).astype(np.intp)  # N x (row, column)
    index = np.arange(box)
    on_row = (index[None, :] - phase[:, :1]) % step == 0
    on_column = (index[None, :] - phase[:, 1:]) % step == 0
    lattice = (on_row[:, :, None] & on_column[:, None, :]).reshape(len(levels), box * box)
    score = np.where(full, 1.0 + lattice + u_pixel, 0.0)  # lattice before the rest, at random among each
    chosen = np.argsort(-score, axis=1, kind="stable")[:, :most]
    rows = np.arange(len(levels))[:, None]
    keep = (np.arange(most)[None, :] < counts[:, None]) & full[rows, chosen]
    levels[np.broadcast_to(rows, chosen.shape)[keep], chosen[keep]] = 255


def _centre_by_mass(images: np.ndarray) -> np.ndarray:
    """Translate each image (in place) by whole pixels so its centre of mass lands on pixel
    (size/2, size/2), as MNIST did (its centres of mass spread +-0.5 pixel around the centre). The
    sums are integers, exact in any order."""
    size = images.shape[1]
    columns = np.add.reduce(images, axis=1, dtype=np.int64)
    mass = np.add.reduce(columns, axis=1)
    grid, divisor = _grid(size), np.maximum(mass, 1)
    dx = np.rint(size / 2.0 - (columns @ grid) / divisor).tolist()
    dy = np.rint(size / 2.0 - (np.add.reduce(images, axis=2, dtype=np.int64) @ grid) / divisor).tolist()
    for image, x, y, inked in zip(images, dx, dy, mass.tolist()):
        if not inked or (x == 0 and y == 0):  # a blank image stays as it is
            continue
        x, y = int(x), int(y)
        moved = np.zeros_like(image)
        moved[max(y, 0) : size + min(y, 0), max(x, 0) : size + min(x, 0)] = \
            image[max(-y, 0) : size + min(-y, 0), max(-x, 0) : size + min(-x, 0)]
        image[...] = moved
    return images
