"""Synthetic MNIST-like handwritten digits drawn from pen-stroke models.

Pure numpy + Pillow (no Datumaro import) so it can be used and tested on its own.

Pipeline for one digit (mirrors how MNIST itself was produced, plus augmentation):

1. pick an allograph (a way of writing the digit) from :data:`GLYPHS`, weighted;
2. jitter its control points and evaluate Catmull-Rom splines through them
   (a precomputed linear operator per allograph, so this is one small matmul);
3. random affine in glyph space: slant (shear), rotation, aspect ratio;
4. fit the ink bounding box into a 20x20 box (for 28x28) keeping the aspect
   ratio, draw the strokes with Pillow at 4x resolution and box-downsample
   (anti-aliasing);
5. one bilinear resampling that both applies a Simard et al. (2003) elastic
   displacement field and moves the centre of mass to the frame centre.

All randomness comes from the ``np.random.Generator`` passed in; use
:func:`item_rng` to get one that depends only on ``(seed, subset, index)`` so items
can be produced lazily and in any order with identical bytes.
"""

from __future__ import annotations

import bisect
import math
import threading
import zlib
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Dict, List, NamedTuple, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "DIGIT_CLASSES",
    "GLYPHS",
    "Allograph",
    "DigitStyle",
    "item_rng",
    "render_digit",
    "render_batch",
]

DIGIT_CLASSES: Tuple[str, ...] = tuple("0123456789")

# Drawing resolution multiplier: strokes are drawn this many times larger and
# box-filtered down, which gives anti-aliased edges and sub-pixel stroke widths.
_SUPERSAMPLE = 4
# Catmull-Rom samples per segment between two control points.
_SAMPLES_PER_SEGMENT = 4
# Number of uniforms drawn per item for the scalar random parameters (fixed so
# the consumption of the generator does not depend on the style values).
_N_UNIFORMS = 9
# Contrast gain applied after resampling (then clipped): sharpens the soft edges
# left by anti-aliasing + bilinear resampling to MNIST's intensity histogram.
_INK_GAIN = 1.5
_INK_FLOOR = 15.0


class Allograph(NamedTuple):
    """One way of writing a digit.

    ``strokes`` are pen strokes written as ``"x,y x,y ..."`` control points on a
    0..100 grid (x right, y down, digit height = 100). A point prefixed with ``^``
    is a sharp corner (the spline is split there instead of smoothed through).
    ``aspect`` is the nominal width / height, x coordinates are scaled by it.
    """

    name: str
    weight: float
    strokes: Tuple[str, ...]
    aspect: float = 0.8


# Allograph table: digit -> variants. Weights are relative within a digit and
# were chosen by looking at MNIST contact sheets (e.g. the plain bar is the most
# common "1"; open-top "4" is more common than the closed triangle).
GLYPHS: Dict[str, Tuple[Allograph, ...]] = {
    "0": (
        Allograph("oval", 4.0, ("50,0 18,12 3,45 13,85 45,100 80,90 97,55 88,15 58,0 42,4",), 0.85),
        Allograph("open_top", 1.5, ("52,2 20,12 3,45 13,85 45,100 80,90 97,55 88,18 70,4",), 0.85),
        Allograph("narrow", 1.5, ("55,0 25,15 8,50 20,88 50,100 78,85 92,50 82,12 55,0 40,6",), 0.6),
        Allograph("pointed_top", 1.0, ("50,0 15,30 5,65 25,95 55,100 85,80 95,45 75,10 ^50,0",), 0.8),
    ),
    "1": (
        Allograph("bar", 8.0, ("50,0 50,50 50,100",), 0.1),
        Allograph("bar_curved", 2.0, ("55,0 47,45 50,100",), 0.15),
        Allograph("flag", 2.5, ("15,25 ^55,0 52,50 50,100",), 0.35),
        Allograph("flag_base", 1.0, ("20,22 ^55,0 52,50 ^50,100", "15,100 85,100"), 0.55),
    ),
    "2": (
        Allograph("plain", 4.0, ("8,25 32,3 62,0 88,18 85,42 60,68 ^5,100 50,96 95,98",), 0.9),
        Allograph("loop", 3.0, ("8,25 32,3 62,0 88,18 85,42 55,72 22,92 5,88 18,75 35,90 60,100 95,97",), 0.9),
        Allograph("wavy_base", 1.5, ("10,20 35,2 65,0 88,15 85,40 55,70 ^5,98 30,90 60,100 95,95",), 0.9),
        Allograph("z_like", 1.0, ("10,15 40,0 75,2 88,18 70,45 ^8,100 95,98",), 0.85),
    ),
    "3": (
        Allograph("round", 4.0, ("8,15 40,0 75,3 90,20 80,40 ^42,48 85,60 95,82 70,98 35,100 5,85",), 0.78),
        Allograph("smooth_mid", 2.5, ("10,12 40,0 75,3 90,20 78,40 50,49 80,58 95,80 72,98 35,100 5,85",), 0.78),
        Allograph("flat_top", 1.0, ("10,0 ^88,2 ^45,40 80,52 95,78 68,98 30,100 5,85",), 0.78),
    ),
    "4": (
        Allograph("open", 4.0, ("15,0 10,35 ^8,62 ^95,60", "75,5 73,52 70,100"), 0.8),
        Allograph("open_diag", 2.5, ("40,0 ^5,60 ^95,58", "72,18 70,60 68,100"), 0.8),
        Allograph("closed", 2.0, ("68,0 ^3,66 ^97,64", "68,0 ^68,50 68,100"), 0.8),
        Allograph("u_shape", 1.0, ("10,0 8,38 28,58 68,55 88,42", "88,0 84,50 80,100"), 0.75),
    ),
    "5": (
        Allograph("two_strokes", 4.0, ("25,0 ^18,45 45,38 75,45 92,65 86,88 60,100 30,100 5,88", "25,0 62,2 95,0"), 0.85),
        Allograph("one_stroke", 2.0, ("95,0 ^25,3 ^18,45 45,38 75,45 92,65 86,88 60,100 30,100 5,88",), 0.85),
        Allograph("small_bowl", 1.0, ("28,0 ^22,50 55,45 85,60 88,85 62,100 25,98 8,85", "28,0 90,3"), 0.8),
    ),
    "6": (
        Allograph("standard", 4.0, ("78,0 42,18 15,50 10,78 28,97 60,100 85,82 80,58 55,48 28,55 13,70",), 0.75),
        Allograph("straight_stem", 2.0, ("55,0 35,35 18,72 28,96 58,100 85,82 80,60 55,52 28,60",), 0.7),
        Allograph("small_loop", 1.5, ("85,0 50,18 25,48 15,78 30,97 55,100 75,88 72,70 50,62 22,72",), 0.7),
    ),
    "7": (
        Allograph("plain", 5.0, ("5,5 50,2 ^95,0 72,38 55,70 42,100",), 0.8),
        Allograph("barred", 1.5, ("5,5 50,2 ^95,0 72,38 55,70 42,100", "35,55 88,52"), 0.8),
        Allograph("serif", 1.0, ("5,22 ^8,3 50,2 ^95,0 70,38 52,70 40,100",), 0.8),
        Allograph("vertical_stem", 2.0, ("5,5 50,3 ^92,0 82,45 78,100",), 0.75),
        Allograph("curved_top", 1.0, ("3,12 25,0 55,5 ^95,0 68,40 50,72 45,100",), 0.8),
    ),
    "8": (
        Allograph("s_loop", 4.0, ("85,12 55,0 20,8 15,28 40,45 75,58 90,80 70,100 30,100 10,82 25,60 60,42 85,25 80,8 60,0",), 0.7),
        Allograph("mirror_s", 2.0, ("20,10 50,0 80,10 85,28 60,45 25,60 10,82 30,100 70,100 90,82 75,60 40,45 15,28 20,10 40,2",), 0.7),
        Allograph("two_loops", 1.0, ("50,0 20,10 18,30 50,45 80,30 78,10 50,0", "50,45 15,62 12,88 45,100 82,90 88,65 55,46"), 0.7),
    ),
    "9": (
        Allograph("straight", 4.0, ("88,15 55,0 20,8 8,30 25,50 55,52 85,35", "88,0 86,50 82,100"), 0.72),
        Allograph("one_stroke", 2.0, ("85,20 55,0 20,8 8,30 25,50 55,52 82,38 ^88,5 ^86,50 82,100",), 0.72),
        Allograph("curved", 2.0, ("88,15 55,0 20,8 8,30 25,50 55,52 85,35", "88,0 86,55 72,88 45,100"), 0.72),
        Allograph("diag_stem", 1.0, ("85,15 55,0 20,8 8,30 25,50 55,52 85,35", "88,0 72,50 55,100"), 0.72),
    ),
}


# key -> (min allowed, max allowed) for (lo, hi) pairs.
_PAIR_LIMITS: Dict[str, Tuple[float, float]] = {
    "stroke_width": (0.3, 8.0),
    "slant": (-60.0, 60.0),
    "rotation": (-90.0, 90.0),
    "scale": (0.3, 1.4),
    "aspect": (0.3, 3.0),
}


@dataclass(frozen=True)
class DigitStyle:
    """Style knobs. Defaults were calibrated against real MNIST statistics.

    Widths are in output pixels at 28x28 (scaled for other sizes); angles in degrees.
    ``(lo, hi)`` pairs are sampled uniformly per image.
    """

    image_size: int = 28
    stroke_width: Tuple[float, float] = (1.5, 3.5)
    slant: Tuple[float, float] = (-15.0, 25.0)
    rotation: Tuple[float, float] = (-8.0, 8.0)
    scale: Tuple[float, float] = (0.92, 1.05)
    aspect: Tuple[float, float] = (0.8, 1.25)
    jitter: float = 0.035
    elastic_alpha: float = 34.0
    elastic_sigma: float = 4.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError("<key>: ...")`` for the first invalid field."""
        size = self.image_size
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 8 <= size <= 1024:
            raise ValueError(f"image_size: must be an integer in [8, 1024], got {size!r}")
        for key, (lo_lim, hi_lim) in _PAIR_LIMITS.items():
            value = getattr(self, key)
            ok = isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_real(v) for v in value)
            if not ok or not lo_lim <= value[0] <= value[1] <= hi_lim:
                raise ValueError(
                    f"{key}: must be a pair (lo, hi) with {lo_lim} <= lo <= hi <= {hi_lim}, got {value!r}"
                )
        for key, lo_lim, hi_lim in (
            ("jitter", 0.0, 0.2),
            ("elastic_alpha", 0.0, 200.0),
            ("elastic_sigma", 0.5, 20.0),
            ("noise", 0.0, 1.0),
        ):
            value = getattr(self, key)
            if not _is_real(value) or not lo_lim <= value <= hi_lim:
                raise ValueError(f"{key}: must be a number in [{lo_lim}, {hi_lim}], got {value!r}")

    @classmethod
    def from_dict(cls, options: Dict[str, object]) -> "DigitStyle":
        """Build from plain (e.g. YAML/CLI) values; unknown keys are errors."""
        known = {f.name for f in fields(cls)}
        kwargs = {}
        for key, value in options.items():
            if key not in known:
                raise ValueError(f"{key}: unknown style option (allowed: {', '.join(sorted(known))})")
            kwargs[key] = tuple(value) if isinstance(value, list) else value
        return cls(**kwargs)


def _is_real(value: object) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def item_rng(seed: int, subset: str, index: int) -> np.random.Generator:
    """Generator depending only on ``(seed, subset, index)`` (lazy, order-free)."""
    if seed < 0 or index < 0:
        raise ValueError("seed and index must be non-negative")
    return np.random.default_rng([int(seed), zlib.crc32(subset.encode("utf-8")), int(index)])


# ----------------------------------------------------------------------------
# Precomputation (module-level caches, pure functions of the glyph table)
# ----------------------------------------------------------------------------


class _Compiled(NamedTuple):
    ctrl: np.ndarray  # (K, 2) control points in unit box (x scaled by aspect)
    basis: np.ndarray  # (N, K) spline operator: samples = basis @ ctrl
    strokes: Tuple[Tuple[int, int, Tuple[int, ...]], ...]  # (first, end) sample rows + round-cap rows


def _catmull_rom_basis(n_points: int, per_segment: int) -> np.ndarray:
    """Linear operator mapping n control points to a sampled uniform Catmull-Rom
    spline through them (end tangents by reflection), endpoint included."""
    # Extended points: P[-1] = 2P0 - P1, P[n] = 2P[n-1] - P[n-2], as rows over P.
    ext = np.zeros((n_points + 2, n_points))
    ext[1:-1] = np.eye(n_points)
    ext[0, 0], ext[0, 1] = 2.0, -1.0
    ext[-1, -1], ext[-1, -2] = 2.0, -1.0
    t = np.arange(per_segment) / per_segment
    cr = 0.5 * np.stack(
        [-t + 2 * t**2 - t**3, 2 - 5 * t**2 + 3 * t**3, t + 4 * t**2 - 3 * t**3, -(t**2) + t**3], axis=1
    )  # (per_segment, 4) weights on P[i-1], P[i], P[i+1], P[i+2]
    rows = [cr @ ext[i : i + 4] for i in range(n_points - 1)]
    rows.append(ext[-2:-1])  # final control point
    return np.concatenate(rows, axis=0)


def _parse_stroke(text: str) -> List[List[Tuple[float, float]]]:
    """Split one stroke spec into smooth pieces at ``^`` corners."""
    pieces: List[List[Tuple[float, float]]] = [[]]
    for token in text.split():
        corner = token.startswith("^")
        x, y = (float(v) / 100.0 for v in token.lstrip("^").split(","))
        pieces[-1].append((x, y))
        if corner and len(pieces[-1]) > 1:
            pieces.append([(x, y)])
    return [p for p in pieces if len(p) > 1] or [pieces[0] * 2]


def _compile(allograph: Allograph) -> _Compiled:
    """Turn a table entry into control points + one spline operator for all strokes."""
    ctrl_rows: List[Tuple[float, float]] = []
    pieces_at: List[Tuple[int, int, bool]] = []  # (first ctrl row, n points, continues a stroke)
    for stroke in allograph.strokes:
        for k, piece in enumerate(_parse_stroke(stroke)):
            if k == 0:
                pieces_at.append((len(ctrl_rows), len(piece), False))
                ctrl_rows.extend(piece)
            else:  # a corner: the piece starts at the previous piece's last control point
                pieces_at.append((len(ctrl_rows) - 1, len(piece), True))
                ctrl_rows.extend(piece[1:])
    n_ctrl = len(ctrl_rows)
    blocks: List[np.ndarray] = []
    strokes: List[Tuple[int, int]] = []
    dots: List[int] = []
    n_samples = 0
    for first, n_points, continues in pieces_at:
        b = _catmull_rom_basis(n_points, _SAMPLES_PER_SEGMENT)
        if continues:
            b = b[1:]  # the corner sample was already emitted by the previous piece
            dots.append(n_samples - 1)
            strokes[-1] = (strokes[-1][0], n_samples + len(b))
        else:
            strokes.append((n_samples, n_samples + len(b)))
        full = np.zeros((len(b), n_ctrl))
        full[:, first : first + n_points] = b
        blocks.append(full)
        n_samples += len(b)
    for a, b in strokes:
        dots.extend([a, b - 1])
    ctrl = np.asarray(ctrl_rows, dtype=np.float64)
    ctrl[:, 0] *= allograph.aspect
    capped = tuple((a, b, tuple(sorted({i for i in dots if a <= i < b}))) for a, b in strokes)
    return _Compiled(ctrl, np.concatenate(blocks, axis=0), capped)


@lru_cache(maxsize=None)
def _class_table(digit: int) -> Tuple[Tuple[_Compiled, ...], List[float]]:
    """Compiled allographs of a digit and their cumulative selection probabilities."""
    variants = GLYPHS[DIGIT_CLASSES[digit]]
    weights = np.array([a.weight for a in variants], dtype=np.float64)
    return tuple(_compile(a) for a in variants), (np.cumsum(weights) / weights.sum()).tolist()


@lru_cache(maxsize=16)
def _gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """Matrix G with G @ X = 1-D Gaussian filtering of X's columns with zero
    ('constant') borders, as scipy.ndimage.gaussian_filter(mode='constant')."""
    idx = np.arange(size)
    d = idx[:, None] - idx[None, :]
    radius = int(4.0 * sigma + 0.5)
    k = np.exp(-0.5 * (d / sigma) ** 2)
    k[np.abs(d) > radius] = 0.0
    norm = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).sum()
    return k / norm


@lru_cache(maxsize=16)
def _elastic_operators(size: int, sigma: float, alpha: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precomputed pieces of ``grid + alpha * G @ (2U - 1) @ G.T`` for uniform U in
    [0, 1): returns ``(2 alpha G, G.T, grid - alpha G @ 1 @ G.T)``."""
    g = _gaussian_matrix(size, sigma)
    base = _pixel_grid(size) - alpha * (g @ np.ones((size, size)) @ g.T)
    return 2.0 * alpha * g, np.ascontiguousarray(g.T), base


@lru_cache(maxsize=16)
def _pixel_grid(size: int) -> np.ndarray:
    """(2, size, size) array of pixel (y, x) coordinates (read-only, cached)."""
    grid = np.mgrid[0:size, 0:size].astype(np.float64)
    grid.flags.writeable = False
    return grid


@lru_cache(maxsize=16)
def _pixel_index(size: int) -> np.ndarray:
    return np.arange(size, dtype=np.float64)


# ----------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------


def _lerp(pair: Tuple[float, float], t: float) -> float:
    return pair[0] + (pair[1] - pair[0]) * t


_canvases = threading.local()


def _canvas(side: int) -> Tuple[Image.Image, ImageDraw.ImageDraw]:
    """A cleared drawing canvas, reused per thread (allocating one costs more
    than drawing a digit)."""
    cache = getattr(_canvases, "by_side", None)
    if cache is None:
        cache = _canvases.by_side = {}
    entry = cache.get(side)
    if entry is None:
        image = Image.new("L", (side, side))
        entry = cache[side] = (image, ImageDraw.Draw(image))
    else:
        entry[0].paste(0, (0, 0, side, side))
    return entry


def render_digit(digit: int, rng: np.random.Generator, style: DigitStyle = DigitStyle()) -> np.ndarray:
    """Draw one digit; returns ``uint8 (image_size, image_size)``, white ink on black.

    Uses only ``rng`` for randomness, so the output is a pure function of the arguments.
    """
    if not 0 <= digit < 10:
        raise ValueError(f"digit: must be in 0..9, got {digit!r}")
    size = style.image_size
    unit = size / 28.0
    variants, cum = _class_table(int(digit))
    u = rng.random(_N_UNIFORMS).tolist()
    glyph = variants[min(bisect.bisect_right(cum, u[0]), len(variants) - 1)]

    # 1-3. jittered control points -> dense polyline (one matmul), then the glyph-space
    # affine: aspect, slant, rotation. y points down, so a right lean (positive
    # slant) moves the top (small y) towards +x.
    aspect = _lerp(style.aspect, u[1])
    shear = math.tan(math.radians(_lerp(style.slant, u[2])))
    rot = math.radians(_lerp(style.rotation, u[3]))
    c, s = math.cos(rot), math.sin(rot)
    affine_t = np.array([[c * aspect, s * aspect], [-c * shear - s, c - s * shear]])
    ctrl = glyph.ctrl + rng.standard_normal(glyph.ctrl.shape) * style.jitter
    pts = glyph.basis @ (ctrl @ affine_t)

    # 4. fit the ink box (centre line + pen width) into the 20x20 box and draw at
    # _SUPERSAMPLE x. The canvas has a 1 px margin before and 2 px after the frame
    # so the bilinear step below can read outside the frame without padding.
    flat = pts.ravel().tolist()
    xs = flat[0::2]
    ys = flat[1::2]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    width = _lerp(style.stroke_width, u[4]) * unit
    box = 20.0 * unit * _lerp(style.scale, u[5])
    ss = _SUPERSAMPLE
    k = max(box - width, 1.0) / max(x1 - x0, y1 - y0, 1e-6) * ss
    # output pixel coordinate v -> canvas coordinate (v + 1 + 0.5) * ss - 0.5
    centre = (size / 2.0 + 1.5) * ss - 0.5
    pts *= k
    pts += (centre - (x0 + x1) * 0.5 * k, centre - (y0 + y1) * 0.5 * k)
    flat = pts.ravel().tolist()
    padded = size + 3
    image, draw = _canvas(padded * ss)
    pen = width * ss
    for i, (a, b, dots) in enumerate(glyph.strokes):
        w = pen if i == 0 else pen * (0.8 + 0.3 * u[6])  # pressure differs per stroke
        draw.line(flat[2 * a : 2 * b], fill=255, width=max(1, int(w + 0.5)))
        r = w * 0.5 - 0.5
        if r > 0.5:  # round caps and corners
            for j in dots:
                x, y = flat[2 * j], flat[2 * j + 1]
                draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    small = np.frombuffer(image.reduce(ss).tobytes(), dtype=np.uint8).reshape(padded, padded)

    # 5. elastic field + centre-of-mass shift in one bilinear resampling
    rows = small.sum(axis=1, dtype=np.float64)
    mass = rows.sum()
    if mass > 0:
        idx = _pixel_index(padded)
        com_y = float(rows @ idx) / mass
        com_x = float(small.sum(axis=0, dtype=np.float64) @ idx) / mass
    else:
        com_y = com_x = size / 2.0 + 1.0
    # (in padded coordinates) MNIST shifted by whole pixels, so its centre of
    # mass is spread +-0.5 px around the frame centre: mimic that.
    shift_y = com_y - size / 2.0 + u[7] - 0.5
    shift_x = com_x - size / 2.0 + u[8] - 0.5
    if style.elastic_alpha > 0:
        left, right, base = _elastic_operators(size, float(style.elastic_sigma * unit), float(style.elastic_alpha * unit))
        src = left @ rng.random((2, size, size)) @ right
        src += base
    else:
        src = _pixel_grid(size).copy()
    src[0] += shift_y
    src[1] += shift_x
    out = _bilinear(small.astype(np.float64).ravel(), padded, src)
    # MNIST strokes have saturated cores and short ramps (36% of ink pixels >= 250)
    out -= _INK_FLOOR
    out *= _INK_GAIN
    np.maximum(out, 0.0, out=out)
    if style.noise > 0:
        out += rng.standard_normal(out.shape) * (style.noise * 255.0)
        np.maximum(out, 0.0, out=out)
    np.minimum(out, 255.0, out=out)
    out += 0.5
    return out.astype(np.uint8)


def _bilinear(flat: np.ndarray, stride: int, src: np.ndarray) -> np.ndarray:
    """Sample a zero-bordered image (``flat``, row length ``stride``) at the float
    (y, x) coordinates ``src[0], src[1]`` (vectorized gather, no Python loops)."""
    np.clip(src, 0.0, stride - 2.0, out=src)
    floor = np.floor(src)
    frac = src - floor
    index = floor.astype(np.intp)
    base = index[0] * stride + index[1]
    p00 = flat[base]
    p01 = flat[base + 1]
    p10 = flat[base + stride]
    p11 = flat[base + (stride + 1)]
    fx = frac[1]
    top = p00 + (p01 - p00) * fx
    bottom = p10 + (p11 - p10) * fx
    return top + (bottom - top) * frac[0]


def render_batch(
    digits: Sequence[int],
    seed: int,
    subset: str,
    indices: Sequence[int],
    style: DigitStyle = DigitStyle(),
) -> np.ndarray:
    """``uint8 (n, size, size)`` images of ``digits[k]`` for items ``indices[k]``.

    Convenience loop: each image is exactly ``render_digit(d, item_rng(seed, subset, i), style)``,
    so results are byte-identical however items are batched or ordered.
    """
    if len(digits) != len(indices):
        raise ValueError("digits and indices must have the same length")
    size = style.image_size
    images = np.empty((len(indices), size, size), dtype=np.uint8)
    for row, (digit, index) in enumerate(zip(digits, indices)):
        images[row] = render_digit(int(digit), item_rng(seed, subset, int(index)), style)
    return images
