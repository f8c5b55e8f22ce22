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
  corner, a pen lift stays a gap), applies slant, rotation and aspect (after a per-class bend compiled
  in: slant, width, waist, bow and taper fitted to MNIST's class means, :data:`CLASS_SHAPE`; and a
  class's pen and jitter, :data:`CLASS_PEN` and :data:`CLASS_JITTER`), and bends the pen path with an
  elastic distortion (Simard, Steinkraus & Platt, 2003: a uniform [-1, 1] displacement field smoothed
  by a Gaussian of width sigma and scaled by alpha, times the class's :data:`CLASS_ELASTIC`). The
  field moves the path's points rather than resampling the image, which would blur away the solid
  stroke core MNIST digits have.
* For a class's share of its digits, :data:`CLASS_SPRING`, the pen has mass (:mod:`.spring`): a damped
  spring pulls it along the path, so it rounds the sharp turns jittered control points make. The spring
  is a matrix per stroke, folded into the glyph's spline matrix once per (frequency, damping) cell.
* Where the pen lifts, a curved stroke narrows to half its width (:mod:`.tips`), as real pen strokes
  do; a corner two strokes share keeps its width.
* Then it is drawn and normalized the way MNIST was (:mod:`.raster`): a binary scan at a few times the
  resolution, its inked box area-averaged into 20x20 keeping the aspect ratio, and placed in 28x28 by
  a whole-pixel translation that puts the centre of mass at the centre.

Everything a sample does is drawn from the ``numpy.random.Generator`` it is given, so
:func:`item_rng` (:mod:`.style`, with :class:`DigitStyle`) makes an item's pixels a function of
``(seed, subset, index)`` alone.
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..checks import is_int_in
from .allographs import (ALLOGRAPHS, CLASS_ELASTIC, CLASS_JITTER, CLASS_PEN, CLASS_SHAPE, CLASS_SPRING, DIGIT_CLASSES,
                         Point, Stroke)
from .raster import BOX_FRACTION, FIELD_STEPS, SUPERSAMPLE, Scan, elastic, finish, finish_numbers, fit_box, scan
from .spring import cell_value, spring_matrix
from .style import DigitStyle, item_rng
from .tips import tapered_tips

__all__ = ["ALLOGRAPHS", "CLASS_SHAPE", "DIGIT_CLASSES", "DigitStyle", "item_rng", "render_allograph", "render_digit"]

# --- compiled glyphs --------------------------------------------------------------------------------

#: Catmull-Rom samples per segment between two control points.
_SAMPLES = 6


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


@dataclass(frozen=True, eq=False)  # one object per glyph: hashed by identity, as a cache key
class _Glyph:
    """An allograph compiled for fast sampling."""

    name: str
    points: np.ndarray  # (k, 2) distinct control points
    spline: np.ndarray  # (n, k): dense polyline = spline @ points
    bounds: Tuple[int, ...]  # stroke i is dense[bounds[i]:bounds[i + 1]]
    open_strokes: Tuple[bool, ...]  # strokes with two ends (a closed loop needs no round pen ends)
    free_ends: Tuple[Tuple[bool, bool], ...]  # per stroke, whether the pen lifts at its start, its end
    #: The strokes whose ends narrow (:mod:`.tips`): a free end, and a curve (a straight stroke, a bar
    #: or a flag, keeps round ends: narrowing them too lowered TSTR). Each: its index, first and last
    #: dense point, and which ends are free.
    tapered: Tuple[Tuple[int, int, int, Tuple[bool, bool]], ...]
    pen: float  # the class's pen width factor (:data:`CLASS_PEN`)
    jitter: float  # the class's control-point jitter factor (:data:`CLASS_JITTER`)
    elastic: float  # the class's elastic strength factor (:data:`CLASS_ELASTIC`)
    spring: float  # the share of its digits whose pen a spring drives (:data:`CLASS_SPRING`, :mod:`.spring`)


def _class_warp(points: np.ndarray, shape: Tuple[float, ...]) -> np.ndarray:
    """Unit-box points bent by a class's :data:`CLASS_SHAPE`: ``waist`` moves the middle down
    (``sin(pi y)``: a 6's loop shrinks, a 9's grows), ``bow`` bends the middle right, ``taper`` widens
    the top and narrows the bottom; then ``width`` and ``slant`` (a shear about the centre)."""
    slant, width, waist, bow, taper = shape
    x, y = points[:, 0] - 0.5, points[:, 1]
    bend = np.sin(np.pi * np.clip(y, 0.0, 1.0))
    x = (x * (1.0 + taper * (0.5 - y)) + bow * bend) * width - math.tan(math.radians(slant)) * (y - 0.5)
    return np.stack([x + 0.5, y + waist * bend], axis=1)


def _compile(name: str, strokes: Sequence[Stroke], shape: Tuple[float, ...], pen: float = 1.0,
             jitter: float = 1.0, elastic: float = 1.0, spring: float = 0.0) -> _Glyph:
    """Compile an allograph, its points bent by the class's *shape* (:func:`_class_warp`), drawn with
    *pen* times the style's pen width, its control points jittered *jitter* times the style's, its path
    distorted by *elastic* times the style's elastic strength, a *spring* share of its digits' pens driven
    by a spring."""
    keys: Dict[Point, int] = {}
    for stroke in strokes:
        for point in stroke:
            keys.setdefault(tuple(point), len(keys))
    blocks: List[np.ndarray] = []
    bounds = [0]
    open_strokes = []
    ends = [keys[tuple(p)] for stroke in strokes for p in (stroke[0], stroke[-1])]
    for stroke in strokes:
        index = [keys[tuple(p)] for p in stroke]
        open_strokes.append(index[0] != index[-1])
        rows = _catmull_rom_rows(len(index), not open_strokes[-1])
        block = np.zeros((len(rows), len(keys)))
        np.add.at(block.T, index, rows.T)
        blocks.append(block)
        bounds.append(bounds[-1] + len(rows))
    # a pen lifts at an end no other stroke starts or ends at; one that does is a corner of one motion
    free_ends = tuple((is_open and ends.count(ends[2 * i]) == 1, is_open and ends.count(ends[2 * i + 1]) == 1)
                      for i, is_open in enumerate(open_strokes))
    points = _class_warp(np.array(list(keys), dtype=np.float64), shape)
    tapered = tuple((i, a, b - 1, ends) for i, (a, b, ends) in enumerate(zip(bounds, bounds[1:], free_ends))
                    if any(ends) and b - a > 2)
    return _Glyph(name, points, np.vstack(blocks), tuple(bounds), tuple(open_strokes), free_ends, tapered,
                  pen, jitter, elastic, spring)


def _compile_table(shapes: Dict[int, Tuple[float, ...]] = CLASS_SHAPE) -> Tuple[Tuple[Tuple[_Glyph, ...], List[float]], ...]:
    """Per digit: its compiled allographs (bent by *shapes*) and their cumulative probabilities."""
    table = []
    for digit in range(len(DIGIT_CLASSES)):
        variants = ALLOGRAPHS[digit]
        weights = np.array([weight for weight, _ in variants.values()], dtype=np.float64)
        glyphs = tuple(_compile(name, strokes, shapes[digit], CLASS_PEN[digit], CLASS_JITTER[digit],
                                CLASS_ELASTIC[digit], CLASS_SPRING[digit])
                       for name, (_, strokes) in variants.items())
        table.append((glyphs, (np.cumsum(weights) / weights.sum()).tolist()))
    return tuple(table)


_GLYPHS = _compile_table()


@functools.lru_cache(maxsize=4096)
def _sprung(glyph: _Glyph, frequency: float, damping: float) -> np.ndarray:
    """*glyph*'s spline matrix with its pen driven by a spring of *frequency* and *damping*
    (:mod:`.spring`): each stroke's rows filtered, so drawing it costs what drawing *glyph* does."""
    filtered = np.zeros((len(glyph.spline), len(glyph.spline)))
    for a, b, is_open in zip(glyph.bounds, glyph.bounds[1:], glyph.open_strokes):
        filtered[a:b, a:b] = spring_matrix(b - a, not is_open, frequency, damping)
    sprung = filtered @ glyph.spline
    sprung.setflags(write=False)  # cached: every digit of this glyph and cell shares it
    return sprung


# --- rendering --------------------------------------------------------------------------------------


def _pick(bounds: Tuple[float, float], x: float) -> float:
    """The point at fraction *x* of the range *bounds*."""
    return bounds[0] + (bounds[1] - bounds[0]) * x


def _check_digit(digit: int) -> int:
    if not is_int_in(digit, 0, len(DIGIT_CLASSES)):
        raise ValueError(f"digit: {digit!r} is not allowed; use an integer 0-9")
    return int(digit)


def render_digit(digit: int, rng: np.random.Generator, style: DigitStyle = DigitStyle()) -> np.ndarray:
    """One handwritten-looking *digit* (0-9): uint8 ``(image_size, image_size)``, bright ink on black.

    The allograph is drawn at random with the table's frequencies; everything comes from *rng*."""
    return finish([scan_digit(digit, rng, style)], style.image_size)[0]


def scan_digit(digit: int, rng: np.random.Generator, style: DigitStyle = DigitStyle()) -> Scan:
    """:func:`render_digit` up to the pixels :func:`.raster.finish` makes for a whole block at once."""
    return scan_digits([digit], [rng], style)[0]


def scan_digits(digits: Sequence[int], rngs: Iterable[np.random.Generator],
                style: DigitStyle = DigitStyle()) -> List[Scan]:
    """:func:`scan_digit` of each digit with its stream (*rngs* may re-seed one generator from item to
    item): the same scans, the pen paths of a block's digits computed together (:func:`_scan_pens`)."""
    pens = []
    size = style.image_size
    # the elastic fields of the block in one array, each drawn into its row
    fields = np.empty((len(digits), 2, size, size)) if style.elastic_alpha > 0 else None
    for k, (digit, rng) in enumerate(zip(digits, rngs)):
        glyphs, cumulative = _GLYPHS[_check_digit(digit)]
        u_glyph, *uniforms = rng.random(6).tolist()  # the allograph's, then the pen's 5: one call
        glyph = glyphs[min(bisect.bisect_right(cumulative, u_glyph), len(glyphs) - 1)]
        pens.append(_draw_pen(glyph, uniforms, rng, style, None if fields is None else fields[k]))
    return _scan_pens(pens, style, fields)


def render_allograph(digit: int, name: str, rng: np.random.Generator, style: DigitStyle = DigitStyle()) -> np.ndarray:
    """Like :func:`render_digit` with a given allograph (a name in ``ALLOGRAPHS[digit]``): for contact
    sheets and tests."""
    glyphs, _ = _GLYPHS[_check_digit(digit)]
    for glyph in glyphs:
        if glyph.name == name:
            return finish([_render(glyph, rng, style)], style.image_size)[0]
    raise ValueError(f"name: {name!r} is not an allograph of {digit}; use one of {sorted(ALLOGRAPHS[digit])}")


def _render(glyph: _Glyph, rng: np.random.Generator, style: DigitStyle) -> Scan:
    """Pen path -> elastic wobble -> MNIST box fit -> binary scan, box-averaged (finished by :func:`.raster.finish`)."""
    return _scan_pens([_draw_pen(glyph, rng.random(5).tolist(), rng, style)], style)[0]


class _Pen(NamedTuple):
    """One digit's pen path before it is computed: its glyph and all its random numbers, drawn in the
    item's order (its stream may be re-seeded for the next item once they are drawn)."""

    glyph: _Glyph
    spline: Optional[np.ndarray]  # its sprung spline matrix (:func:`_sprung`), or None: the glyph's
    linear: List[List[float]]  # slant, stretch and rotation, transposed
    jitter: np.ndarray  # (k, 2) normals times the digit's spread factor: the control points' jitter
    field: Optional[np.ndarray]  # (2, size, size) uniforms: the elastic field, or None
    box: int
    width: float  # the pen's width, in output pixels
    widths: List[float]  # each stroke's pen width, in scan pixels
    finish: tuple  # the numbers raster.finish needs (raster.finish_numbers)


def _draw_pen(glyph: _Glyph, uniforms: List[float], rng: np.random.Generator, style: DigitStyle,
              field: Optional[np.ndarray] = None) -> _Pen:
    """A digit's random numbers, its first five *uniforms* drawn, then the rest from *rng* in the order
    they always were (the elastic field into *field* if given), and what they set."""
    u_slant, u_rotation, u_aspect, u_width, u_scale = uniforms
    shear = math.tan(math.radians(_pick(style.slant, u_slant)))
    angle = math.radians(_pick(style.rotation, u_rotation))
    aspect = _pick(style.aspect, u_aspect)
    cos, sin = math.cos(angle), math.sin(angle)
    # rotation @ [[aspect, -shear], [0, 1]]; y is down, so a positive slant moves the top (small y)
    # to the right, and a positive rotation is clockwise.
    linear = [[cos * aspect, sin * aspect], [-cos * shear - sin, cos - sin * shear]]
    jitter = rng.standard_normal(glyph.points.shape)
    size = style.image_size
    if style.elastic_alpha > 0:  # [dx or dy, row, column]
        field = rng.random((2, size, size)) if field is None else rng.random(out=field)
    box = max(int(round(BOX_FRACTION * size * _pick(style.scale, u_scale))), 1)
    width = _pick(style.stroke_width, u_width) * (size / 28.0) * glyph.pen
    spread = style.stroke_width_jitter
    widths = [max(width * (1.0 + spread * z), 0.5) * SUPERSAMPLE
              for z in rng.standard_normal(len(glyph.bounds) - 1).tolist()]
    finishing = finish_numbers(rng, box, style)
    # the last numbers: the spring came after the others, the jitter's spread after the spring
    u_frequency, u_damping, u_spring, u_spread = rng.random(4).tolist()
    jitter = jitter * math.exp(style.jitter_spread * (2.0 * u_spread - 1.0))
    spline = None
    if u_spring < glyph.spring and style.spring_frequency[1] > 0:
        spline = _sprung(glyph, cell_value(style.spring_frequency, u_frequency), cell_value(style.spring_damping, u_damping))
    return _Pen(glyph, spline, linear, jitter, field, box, width, widths, finishing)


def _scan_pens(pens: Sequence[_Pen], style: DigitStyle, fields: Optional[np.ndarray] = None) -> List[Scan]:
    """Pen path -> elastic wobble -> MNIST box fit for a block of digits at once, then each one's scan
    (*fields*: the pens' elastic fields, stacked, if they are already).

    Every step is elementwise, exact (a minimum, a maximum), or a matrix product per digit of the
    shape it has alone (stacked, for the digits of a glyph or of a path length): each digit's numbers
    are the ones it gets alone, in any block."""
    if not pens:
        return []
    groups: Dict[Tuple[int, bool], List[int]] = {}
    for k, pen in enumerate(pens):
        groups.setdefault((id(pen.glyph), pen.spline is None), []).append(k)
    # The digits of a glyph together (its sprung ones apart), glyphs by path length: the paths of a length
    # lie side by side.
    members = sorted(groups.values(), key=lambda group: len(pens[group[0]].glyph.spline))
    positions = [k for group in members for k in group]
    order = [pens[k] for k in positions]
    paths = []
    for group in members:
        glyph = pens[group[0]].glyph
        # Pen path: jitter the control points, then slant, stretch and rotate the whole glyph.
        jitter = np.concatenate([pens[k].jitter for k in group]).reshape(len(group), *glyph.points.shape)
        points = glyph.points + jitter * (style.jitter * glyph.jitter)
        sprung = [pens[k].spline for k in group]
        spline = glyph.spline if sprung[0] is None else np.stack(sprung)  # a group's pens are all sprung or none
        paths.append((spline @ (points @ np.array([pens[k].linear for k in group]))).reshape(-1, 2))
    lengths = [len(pen.glyph.spline) for pen in order]
    starts = np.cumsum([0] + lengths[:-1])
    dense = np.concatenate(paths)
    # The pen's centre line gets the box less a pen width, so its ink spans about the box (the scan
    # is normalized on its ink's bounding box anyway).
    line_box = np.maximum(np.array([p.box for p in order]) - np.array([p.width for p in order]), 1.0)
    size = style.image_size
    if style.elastic_alpha > 0:  # distort at the scale it is drawn (in field units), then refit
        dense = fit_box(dense, starts, line_box, size / 2.0, FIELD_STEPS, 0.5)
        fields = np.stack([p.field for p in pens]) if fields is None else fields
        _wobble(dense, fields[positions], [pen.glyph.elastic for pen in order], lengths, starts.tolist(), style)
    # To scan coordinates: SUPERSAMPLE scan pixels a pixel, the ink's box centred on the canvas.
    sides = (line_box * SUPERSAMPLE).tolist()
    canvas = [int(side + max(p.widths)) + 2 * SUPERSAMPLE for side, p in zip(sides, order)]
    dense = fit_box(dense, starts, line_box * SUPERSAMPLE, np.array(canvas) / 2.0)
    tips = _tips(dense, order, starts.tolist(), style.taper * SUPERSAMPLE * size / 28.0)
    scans: List[Optional[Scan]] = [None] * len(pens)
    for k, pen, start, length, side, tip in zip(positions, order, starts.tolist(), lengths, canvas, tips):
        glyph = pen.glyph
        coverage = scan(dense[start : start + length], glyph.bounds, glyph.open_strokes, pen.widths, side, pen.box, tip)
        scans[k] = Scan(coverage, pen.box, *pen.finish)
    return scans


def _tips(dense: np.ndarray, order: Sequence[_Pen], starts: List[int], taper: float) -> List[Optional[dict]]:
    """Each digit's narrowing pen ends (:func:`.tips.tapered_tips`), by stroke (None: a digit none of
    whose strokes narrow), the digits in *dense*'s *order*, their paths at *starts*."""
    if taper <= 0:
        return [None] * len(order)
    owners = [(k, stroke) for k, pen in enumerate(order) for stroke in pen.glyph.tapered]
    out: List[Optional[dict]] = [None] * len(order)
    if not owners:
        return out
    first = np.array([starts[k] + a for k, (_, a, _, _) in owners])
    last = first + np.array([b - a for _, (_, a, b, _) in owners])
    free = np.array([ends for _, (_, _, _, ends) in owners])
    widths = np.array([order[k].widths[i] for k, (i, _, _, _) in owners])
    index = np.minimum(first[:, None] + np.arange((last - first).max() + 1), last[:, None])  # padded by the last point
    tips = tapered_tips(dense[index], (last - first + 1).tolist(), free, widths, taper)
    for (k, (i, _, _, _)), tip in zip(owners, tips):
        if out[k] is None:
            out[k] = {}
        out[k][i] = tip
    return out


def _wobble(dense: np.ndarray, fields: np.ndarray, factors: List[float], lengths: List[int], starts: List[int],
            style: DigitStyle) -> None:
    """:func:`.raster.elastic` on the paths of *dense* (in place; their *fields* in the same order),
    each path's strength its glyph's *factor* of the style's, the paths of a length at once."""
    unit = style.image_size / 28.0
    first = 0
    for last in range(1, len(lengths) + 1):
        if last < len(lengths) and lengths[last] == lengths[first]:
            continue
        a, b = starts[first], starts[last - 1] + lengths[first]
        slab = dense[a:b].reshape(last - first, lengths[first], 2)
        alpha = style.elastic_alpha * unit * np.array(factors[first:last])
        sigma = style.elastic_sigma * unit
        dense[a:b] = elastic(slab, fields[first:last], style.image_size, alpha, sigma).reshape(-1, 2)
        first = last
