"""The raster half of the renderer: a pen path in, MNIST-normalized pixels out (numpy + Pillow).

Why it is built this way (see :mod:`.strokes` for the pen paths):

* The elastic wobble (Simard, Steinkraus & Platt, 2003) moves the path's points, not the image's pixels:
  resampling a 28x28 image blurs away the solid stroke core MNIST digits have.
* The path is drawn in binary ink at ``SUPERSAMPLE`` times the output resolution (a "scan", as NIST's
  digits were binary), then normalized the way MNIST was: the square around its inked box area-averaged
  into 20x20 (aspect kept, the longest side spanning the box), full pixels at one of MNIST's peak ink
  levels, and placed in 28x28 by the whole-pixel shift that puts the centre of mass at the centre.
* A style's other grey profile (``ink``, ``softness``) is applied to those MNIST-like images, as a
  dataset made from MNIST by binarizing, dimming or blurring it; MNIST's own profile costs nothing.

Every random number comes from the ``numpy.random.Generator`` passed in, in a fixed order, so the pixels
are a function of the item's stream alone.
"""

from __future__ import annotations

import bisect
import math
import threading
from functools import lru_cache
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image, ImageDraw

from .style import DigitStyle
from .tips import Tip

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



def elastic(dense: np.ndarray, field: np.ndarray, size: int, alpha: Union[float, np.ndarray],
            sigma: float) -> np.ndarray:
    """Move the pen points of a batch of paths (``B x n x 2``), given in units of ``1 / FIELD_STEPS``
    pixel of a ``size`` image, by Simard elastic displacement fields (in the same units, up to a
    constant shift); *field* holds each path's uniforms in [0, 1), ``B x 2 x size x size`` ([dx or dy,
    row, column]).

    The field is Simard's: uniform [-1, 1] per pixel, smoothed by a Gaussian of width sigma, scaled by
    alpha (one number, or one a path). It moves the pen's path, as a writer's hand wobbles, instead of
    resampling the image: an image resampled at 28x28 loses the solid stroke core MNIST digits have (a
    classifier trained on that blur does worse on real digits), and only the path's points need the
    field at all. The field's constant part (-alpha) is left out: the box fit that follows removes any
    shift. A matrix product per path and a sum along rows: each path's numbers are the ones it gets
    alone.
    """
    rows = _gaussian_rows(size, sigma)
    cells = dense.astype(np.intp)
    weights_x = rows.take(cells[..., 0], axis=0, mode="clip")[:, None]  # each (B, 1, n, size)
    weights_y = rows.take(cells[..., 1], axis=0, mode="clip")[:, None]
    product = weights_y @ field
    product *= weights_x  # in place: a broadcast product into a new array costs several times more
    smoothed = np.add.reduce(product, axis=3)  # (B, 2, n), a weighted mean of [0, 1)
    return dense + smoothed.transpose(0, 2, 1) * (2.0 * np.reshape(alpha, (-1, 1, 1)) * FIELD_STEPS)


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
    _draw_strokes(ImageDraw.Draw(canvas).draw, canvas_points, bounds, open_strokes, widths)
    return canvas


def _draw_strokes(draw, canvas_points: np.ndarray, bounds: Sequence[int], open_strokes: Sequence[bool],
                  widths: List[float], tips: Optional[Dict[int, Tip]] = None) -> None:
    """Draw on *draw*, a Pillow core drawing context (``ImageDraw.Draw(image).draw``): the calls
    ``ImageDraw`` makes for ``line``, ``ellipse`` and ``polygon`` with fill 255, without its Python
    layer (a fifth of a digit's drawing). A stroke with a :class:`.tips.Tip` gets narrowing ends, the
    others round ones. Pillow truncates every coordinate to an integer."""
    flat = canvas_points.ravel().tolist()
    line, ellipse = draw.draw_lines, draw.draw_ellipse
    for i, (start, stop, pen, has_ends) in enumerate(zip(bounds, bounds[1:], widths, open_strokes)):
        tip = tips.get(i) if tips else None
        if tip is None:
            points = flat[2 * start : 2 * stop]
        else:  # the middle at full width, each free end an outline narrowing to a dot
            points = tip.head + flat[2 * (start + tip.span[0]) : 2 * (start + tip.span[1])] + tip.tail
            for outline in tip.outlines:
                draw.draw_polygon(outline, _INK, 1)
            for x, y, r in tip.dots:
                ellipse((x - r, y - r, x + r, y + r), _INK, 1)
        line(points, _INK, max(1, int(pen + 0.5)))
        if has_ends:  # round pen ends: a plain wide line ends square
            r = pen / 2.0 - 0.5
            for x, y in ((points[0], points[1]), (points[-2], points[-1])):
                ellipse((x - r, y - r, x + r, y + r), _INK, 1)


#: The ink of a mode "L" drawing at 255 (what ``ImageDraw`` passes its core for ``fill=255``).
_INK = 255
#: Each thread's blank canvas (a Pillow core image and its drawing context), reused from digit to
#: digit (drawing stays inside a digit's ``canvas_size`` square, and its inked box is cleared after
#: use): saves making an image and a drawing context.
_CANVAS = threading.local()


#: Canvases up to this side (1 MB) are kept; a larger one (a digit of a few hundred pixels) is not.
_KEPT_CANVAS = 1024


def _blank_canvas(canvas_size: int) -> tuple:
    """A blank core image at least ``canvas_size`` square (at most twice) and its drawing context."""
    kept = getattr(_CANVAS, "kept", None)
    if kept is None or not canvas_size <= kept[0].size[0] <= 2 * canvas_size:
        image = Image.new("L", (canvas_size, canvas_size), 0)
        kept = (image.im, ImageDraw.Draw(image).draw)
        if canvas_size <= _KEPT_CANVAS:
            _CANVAS.kept = kept
    return kept


class Scan(NamedTuple):
    """A digit drawn and box-averaged, with the random numbers its finish needs (drawn in the item's
    order, so the finish can be done for a whole block at once, elementwise)."""

    coverage: Any  # box x box Pillow core image, mode L: ink coverage of each pixel of the box, 0-255
    box: int
    peak: int  # index into _PEAK_LEVELS
    u_pixel: np.ndarray  # (box * box,) uniforms: which full pixels saturate, edge spread
    u_digit: np.ndarray  # (4,) uniforms: how many full pixels are at 255, their lattice's row and column,
    # the share of full pixels at the second level
    noise: Optional[np.ndarray]  # (size, size) additive noise, or None
    tone: Optional[Tuple[float, float]] = None  # (ink, softness) of a grey profile not MNIST's, or None


#: The style's ``ink`` and ``softness`` that draw MNIST's grey profile (no tone step, no numbers drawn):
#: the defaults.
_MNIST_INK, _MNIST_SOFTNESS = DigitStyle.ink, DigitStyle.softness


def finish_numbers(rng: np.random.Generator, box: int, style) -> Tuple[Any, ...]:
    """The random numbers :func:`finish` needs for a digit of ``box`` pixels (a :class:`Scan`'s last
    fields), drawn from *rng* in their fixed order: the peak level, the uniforms, any noise, then the
    tone (ink and softness) only if the style's is not MNIST's (an ink range draws one uniform), so the
    default style's streams are what they always were."""
    uniforms = rng.random(1 + box * box + 4)  # one call: the same numbers as three in a row
    peak = min(bisect.bisect_right(_PEAK_CUMULATIVE, uniforms[0]), len(_PEAK_LEVELS) - 1)
    size = style.image_size
    noise = rng.normal(0.0, style.noise * 255.0, (size, size)) if style.noise > 0 else None
    ink, softness, tone = style.ink, style.softness, None
    if ink != _MNIST_INK or softness != _MNIST_SOFTNESS:
        tone = tone_of(ink[0] + (ink[1] - ink[0]) * rng.random() if ink[0] != ink[1] else ink[0], softness, size)
    return peak, uniforms[1 : 1 + box * box], uniforms[1 + box * box :], noise, tone


def tone_of(ink: float, softness: float, size: int) -> Tuple[float, float]:
    """A :class:`Scan`'s tone for a digit of *ink* level and the style's *softness* in a *size* image:
    a blur's width (softness above 1) is in pixels of a 28-pixel image, so it scales with the image."""
    return float(ink), (1.0 + (softness - 1.0) * size / 28.0 if softness > 1 else float(softness))


def scan(canvas_points: np.ndarray, bounds: Sequence[int], open_strokes: Sequence[bool], widths: List[float],
         canvas_size: int, box: int, tips: Optional[Dict[int, Tip]] = None):
    """Draw the pen path (:func:`draw_scan`; *tips*: the narrowing ends of strokes, by index) and
    area-average its inked square into ``box`` x ``box``: the coverage, a Pillow core image."""
    canvas, draw = _blank_canvas(canvas_size)
    _draw_strokes(draw, canvas_points, bounds, open_strokes, widths, tips)
    inked = canvas.getbbox()
    try:
        return _box_average(canvas, inked or (0, 0, 1, 1), canvas_size, box)
    finally:
        if inked:
            canvas.paste(0, inked)


def _box_average(canvas, inked: Tuple[int, int, int, int], canvas_size: int, box: int):
    """MNIST's size normalization of a binary scan (a core image, ink only in its top-left
    ``canvas_size`` square, within *inked*): the square around its inked bounding box, area-averaged
    into ``box`` x ``box`` pixels (the aspect ratio kept, the longest side spanning the box)."""
    x0, y0, x1, y1 = inked
    side = max(x1 - x0, y1 - y0)
    limit = canvas_size - side  # the square stays on the scan (drawn centred, with a margin)
    left = min(max((x0 + x1 - side) / 2.0, 0.0), limit)
    top = min(max((y0 + y1 - side) / 2.0, 0.0), limit)
    return canvas.resize((box, box), _BOX_FILTER, (left, top, left + side, top + side))


_BOX_FILTER = int(Image.Resampling.BOX)


def finish(scans: Sequence[Scan], size: int) -> np.ndarray:
    """The images of *scans*, ``N x size x size`` uint8: MNIST's ink levels, each box in the middle of
    the image, centred by mass, then in the style's grey profile if it is not MNIST's (:func:`_toned`:
    as a dataset made from MNIST-like digits by binarizing, dimming or blurring them), then any noise.

    Every step is elementwise or exact (integer sums), so a digit's pixels do not depend on the
    others of its block: a block of one gives the same bytes.
    """
    images = np.zeros((len(scans), size, size), dtype=np.uint8)
    for box in sorted({s.box for s in scans}):
        rows = [i for i, s in enumerate(scans) if s.box == box]
        group = [scans[i] for i in rows]
        coverage = _side_by_side([s.coverage for s in group], box)
        u_pixel = np.concatenate([s.u_pixel for s in group]).reshape(len(group), box * box)
        u_digit = np.concatenate([s.u_digit for s in group]).reshape(len(group), -1)
        levels = _ink_levels(coverage, np.array([s.peak for s in group]), u_pixel, u_digit[:, 3])
        _saturate(levels, coverage == 255, u_pixel, u_digit[:, :3], box)
        at = (size - box) // 2
        images[rows, at : at + box, at : at + box] = levels.reshape(len(rows), box, box)
    images = _centre_by_mass(images)
    toned = [i for i, s in enumerate(scans) if s.tone is not None]
    if toned:
        images[toned] = _toned(images[toned], [scans[i].tone for i in toned])
    noisy = [i for i, s in enumerate(scans) if s.noise is not None]
    if noisy:
        values = images[noisy] + np.stack([scans[i].noise for i in noisy])
        images[noisy] = np.clip(values + 0.5, 0, 255).astype(np.uint8)
    return images


def _side_by_side(images: Sequence[Any], box: int) -> np.ndarray:
    """The pixels of ``box`` x ``box`` core images, ``N x box*box``: pasted side by side, read in one go."""
    strip = Image.new("L", (box * len(images), box))
    paste = strip.im.paste
    for k, image in enumerate(images):
        paste(image, (k * box, 0, (k + 1) * box, box))
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
    edge = np.flatnonzero((coverage > 0) & ~full)  # flat indices: cheaper than (row, column) pairs
    pixel = 255.0 / SUPERSAMPLE**2
    step, here, peak = 0.75 * pixel, coverage.take(edge), _PEAK_VALUES[peaks[edge // coverage.shape[1]]]
    value = scaled.take(edge).astype(np.float64)
    low = np.where(here <= 2 * pixel, 1.0, value - step / 2)
    high = np.where(here >= 255 - pixel, peak, value + step / 2)
    spread = low + u_pixel.take(edge) * (high - low)
    scaled.reshape(-1)[edge] = np.clip(spread + 0.5, 1, peak)
    return scaled


def _toned(images: np.ndarray, tones: Sequence[Tuple[float, float]]) -> np.ndarray:
    """MNIST-like images (``N x size x size``) in another grey profile, each with its (ink, softness):
    a softness below 1 steepens the levels about mid-grey (0: thresholded at 128, as binarizing does),
    above 1 blurs by a Gaussian of ``softness - 1`` pixels (already scaled to the image), then every
    level is times ink. Elementwise and shifted sums in a fixed order: a digit's bytes are its own."""
    ink, softness = (np.array(column, dtype=np.float64)[:, None, None] for column in zip(*tones))
    values = images.astype(np.float64)
    steep = softness < 1
    if steep.any():
        values = np.where(steep, np.clip((values - 127.5) / np.maximum(softness, 1e-6) + 127.5, 0, 255), values)
    for sigma in sorted(set(softness[softness > 1].tolist())):
        which = np.flatnonzero(softness[:, 0, 0] == sigma)
        values[which] = _blurred(values[which], sigma - 1)
    return np.clip(np.floor(values * ink + 0.5), 0, 255).astype(np.uint8)


def _blurred(values: np.ndarray, sigma: float) -> np.ndarray:
    """*values* (``N x size x size``) blurred by a Gaussian of *sigma* pixels, rows then columns, as
    sums of shifted copies (no FFT or matrix product whose rounding might depend on N)."""
    if sigma <= 0:
        return values
    reach = int(math.ceil(3 * sigma))
    weights = np.exp(-0.5 * (np.arange(-reach, reach + 1) / sigma) ** 2)
    weights /= weights.sum()
    size = values.shape[1]
    for axis in (1, 2):
        padded = np.pad(values, [(0, 0)] + [(reach, reach) if a == axis else (0, 0) for a in (1, 2)])
        out = np.zeros_like(values)
        for k, weight in enumerate(weights.tolist()):
            out += weight * (padded[:, k : k + size] if axis == 1 else padded[:, :, k : k + size])
        values = out
    return values


def _saturate(levels: np.ndarray, full: np.ndarray, u_pixel: np.ndarray, u_saturated: np.ndarray, box: int) -> None:
    """Set a few full pixels of each digit (rows of ``N x box*box``) to 255, in place: as many as
    :data:`_SATURATED_CUMULATIVE` draws, full pixels on the digit's lattice first, then any full ones."""
    counts = np.searchsorted(_SATURATED_CUMULATIVE, u_saturated[:, 0], side="right")
    most = min(int(counts.max(initial=0)), box * box)  # a box of 1 or 2 pixels has fewer than 6
    if most == 0:
        return
    step = max(2, round(box / _LATTICE_STEPS))
    phase = (u_saturated[:, 1:] * step).astype(np.intp)  # N x (row, column)
    index = np.arange(box)
    on_row = (index[None, :] - phase[:, :1]) % step == 0
    on_column = (index[None, :] - phase[:, 1:]) % step == 0
    lattice = (on_row[:, :, None] & on_column[:, None, :]).reshape(len(levels), box * box)
    score = np.where(full, -1.0 - lattice - u_pixel, 0.0)  # lattice before the rest, at random among each
    chosen = _first_sorted(score, most)
    rows = np.arange(len(levels))[:, None]
    keep = (np.arange(most)[None, :] < counts[:, None]) & full[rows, chosen]
    levels[np.broadcast_to(rows, chosen.shape)[keep], chosen[keep]] = 255


def _first_sorted(score: np.ndarray, most: int) -> np.ndarray:
    """``np.argsort(score, axis=1, kind="stable")[:, :most]``, without sorting whole rows: the *most*
    smallest of each row by a partition (ties at its edge by position), then those sorted."""
    if most >= score.shape[1]:
        return np.argsort(score, axis=1, kind="stable")
    edge = np.take_along_axis(score, np.argpartition(score, most - 1, axis=1)[:, most - 1 : most], axis=1)
    below, tied = score < edge, score == edge
    room = most - np.add.reduce(below, axis=1, keepdims=True)  # the first tied ones fill the rest
    best = np.nonzero(below | (tied & (np.cumsum(tied, axis=1) <= room)))[1].reshape(len(score), most)
    return np.take_along_axis(best, np.argsort(np.take_along_axis(score, best, axis=1), axis=1, kind="stable"), axis=1)


def _centre_by_mass(images: np.ndarray) -> np.ndarray:
    """Translate each image (in place) by whole pixels so its centre of mass lands on pixel
    (size/2, size/2), as MNIST did (its centres of mass spread +-0.5 pixel around the centre). The
    sums are integers, exact in any order."""
    size = images.shape[1]
    columns = np.add.reduce(images, axis=1, dtype=np.int64)
    mass = np.add.reduce(columns, axis=1)
    grid, divisor = _grid(size), np.maximum(mass, 1)
    dx = np.rint(size / 2.0 - (columns @ grid) / divisor).astype(np.intp)
    dy = np.rint(size / 2.0 - (np.add.reduce(images, axis=2, dtype=np.int64) @ grid) / divisor).astype(np.intp)
    # the images of one shift at once (a code per shift); a blank image stays as it is
    codes = np.where((mass > 0) & ((dx != 0) | (dy != 0)), (dx + size) * (4 * size) + dy + size, -1)
    for code in np.unique(codes[codes >= 0]).tolist():
        x, y = code // (4 * size) - size, code % (4 * size) - size
        which = np.flatnonzero(codes == code)
        moved = np.zeros((len(which), size, size), dtype=images.dtype)
        moved[:, max(y, 0) : size + min(y, 0), max(x, 0) : size + min(x, 0)] = \
            images[which, max(-y, 0) : size + min(-y, 0), max(-x, 0) : size + min(-x, 0)]
        images[which] = moved
    return images
