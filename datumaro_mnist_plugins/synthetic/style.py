"""How generated digits look (:class:`DigitStyle`, every knob checked) and each item's random stream.

Everything a sample does is drawn from the ``numpy.random.Generator`` it is given, so
:func:`item_rng` makes an item's pixels a function of ``(seed, subset, index)`` alone.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

from ..checks import is_finite_real, is_int_in

__all__ = ["DigitStyle", "MIN_SPRING_FREQUENCY", "PAIR_LIMITS", "SCALAR_LIMITS", "item_rng"]

#: Allowed ranges of the style knobs: pairs are (low, high) ranges, scalars single numbers.
PAIR_LIMITS: Dict[str, Tuple[float, float]] = {
    "stroke_width": (0.3, 8.0),
    "slant": (-60.0, 60.0),
    "rotation": (-90.0, 90.0),
    "scale": (0.2, 1.4),
    "aspect": (0.3, 3.0),
    "ink": (0.1, 2.0),
    "spring_frequency": (0.0, 2.0),  # with the damping's limit, where the pen's integration is stable
    "spring_damping": (0.1, 1.5),
}
#: The lowest spring frequency of a sprung pen: (0, 0) turns the spring off, but a pen that barely moves
#: draws a scribble, so a range that starts lower is refused.
MIN_SPRING_FREQUENCY = 0.05
SCALAR_LIMITS: Dict[str, Tuple[float, float]] = {
    "stroke_width_jitter": (0.0, 0.5),
    "jitter": (0.0, 0.2),
    "jitter_spread": (0.0, 1.0),
    "elastic_alpha": (0.0, 200.0),
    "elastic_sigma": (0.5, 20.0),
    "noise": (0.0, 1.0),
    "softness": (0.0, 4.0),
    "taper": (0.0, 6.0),
}


@dataclass(frozen=True)
class DigitStyle:
    """How digits look. Ranges are ``(low, high)``, sampled uniformly per digit.

    Lengths are in pixels of a 28x28 image and scale with ``image_size``; angles are in degrees, a
    positive slant leaning the top to the right (italic). Defaults match real MNIST's statistics (pen
    width, bounding box, grey-level histogram); the slant, the jitter and its spread, the pen spread, the
    pen ends and the spring are set by TSTR.
    """

    image_size: int = 28
    #: Pen width in pixels (of a 28-pixel image).
    stroke_width: Tuple[float, float] = (1.3, 3.3)
    #: Relative spread of the pen width between the strokes of one digit.
    stroke_width_jitter: float = 0.15
    #: Slant range. With the jitter below, wider than real digits' slant spread: variation across the
    #: whole glyph instead of the control points' (TSTR up on all three classifiers, seeds 0-9).
    slant: Tuple[float, float] = (-20.0, 25.0)
    rotation: Tuple[float, float] = (-8.0, 8.0)
    #: Size relative to MNIST's 20x20 box.
    scale: Tuple[float, float] = (1.0, 1.0)
    #: Width / height stretch of the glyph before normalization.
    aspect: Tuple[float, float] = (0.85, 1.15)
    #: Standard deviation of the control-point jitter, as a fraction of the glyph height: lower, kNN-3
    #: reads real digits better (fewer wobbly generated neighbours); the slant and the strokes' pen
    #: spread above give back the variation the SVC and the MLP need.
    jitter: float = 0.05
    #: How much the jitter varies between digits: each digit's is the style's times a factor
    #: log-uniform in [exp(-s), exp(s)], so some digits are drawn clean and some wobbly; 0 = all alike.
    #: With the longer pen ends and the slower spring below: TSTR SVC +0.16, kNN-3 +0.17, MLP -0.03
    #: (seeds 0-9); alone, 0.5 gave the SVC and the MLP more and cost kNN-3.
    jitter_spread: float = 0.4
    #: Elastic distortion strength and smoothness (pixels of a 28-pixel image); alpha 0 = none.
    elastic_alpha: float = 45.0
    elastic_sigma: float = 4.5
    #: Standard deviation of additive Gaussian pixel noise, as a fraction of full scale; 0 = none.
    noise: float = 0.0
    #: Grey-level profile (see :func:`.raster.finish`). ``ink``: every level times this (sampled per
    #: digit; 1 = MNIST's full pixels at 251-255, 0.5 = dim digits peaking near 127; clipped at 255).
    ink: Tuple[float, float] = (1.0, 1.0)
    #: Stroke edges: 1 = MNIST's anti-aliasing; below 1 steeper, 0 = binary ink (thresholded at half
    #: scale, 0 or 255); above 1 blurred, a Gaussian of ``softness - 1`` pixels (of a 28-pixel image).
    softness: float = 1.0
    #: Pen ends: where the pen lifts, a curved stroke narrows to half its width over its last ``taper``
    #: pixels (of a 28-pixel image; a third of a short stroke at most); 0 = full width to a round end.
    #: 2 keeps the MLP level beside the jitter's spread (with 1.5 it lost 0.1-0.2 where kNN-3 gained);
    #: longer ends tell generated digits from real ones more easily (two-sample 0.754 at 2.5).
    taper: float = 2.0
    #: The pen's mass (:mod:`.spring`): a damped spring pulls it along its path, so it rounds sharp turns.
    #: Natural frequency in radians a path sample (six samples between control points): higher follows
    #: the path more closely; (0, 0) = no spring, the pen on its path. Slower than the (0.3, 0.7) of
    #: before, beside the jitter's spread: rounder turns for kNN-3 (+0.14 alone, seeds 0-4).
    spring_frequency: Tuple[float, float] = (0.25, 0.55)
    #: Damping ratio: under 1 the pen swings a little past a fast turn.
    spring_damping: Tuple[float, float] = (0.5, 0.9)

    def __post_init__(self) -> None:
        size = self.image_size
        if not is_int_in(size, 8, 1025):
            raise ValueError(f"image_size: {size!r} is not allowed; use an integer in [8, 1024]")
        for name, (low, high) in PAIR_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, list):  # from YAML/JSON; stored as a tuple so the style stays hashable
                value = tuple(value)
                object.__setattr__(self, name, value)
            ok = isinstance(value, tuple) and len(value) == 2 and all(map(is_finite_real, value))
            if not ok or not low <= value[0] <= value[1] <= high:
                raise ValueError(f"{name}: {value!r} is not allowed; use a pair (low, high) with "
                                 f"{low} <= low <= high <= {high}")
        if 0 < self.spring_frequency[1] and self.spring_frequency[0] < MIN_SPRING_FREQUENCY:
            raise ValueError(f"spring_frequency: {self.spring_frequency!r} is not allowed; use (0, 0) for no "
                             f"spring, or a pair (low, high) with {MIN_SPRING_FREQUENCY} <= low <= high <= "
                             f"{PAIR_LIMITS['spring_frequency'][1]}")
        for name, (low, high) in SCALAR_LIMITS.items():
            value = getattr(self, name)
            if not is_finite_real(value) or not low <= value <= high:
                raise ValueError(f"{name}: {value!r} is not allowed; use a number in [{low}, {high}]")


def item_rng(seed: int, subset: str, index: int) -> np.random.Generator:
    """The random stream of one item: a function of ``(seed, subset, index)`` alone, so items can be made
    in any order, in parallel or one at a time, and always get the same pixels."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    return np.random.default_rng([int(seed), zlib.crc32(subset.encode("utf-8")), int(index)])
