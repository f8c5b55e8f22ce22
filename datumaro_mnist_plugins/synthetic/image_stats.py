"""What a twin sees in digit images: statistics of a stack of ``N x H x W`` uint8 images, bright ink on
black, that :mod:`.twin` compares between real images and digits drawn in an estimated style.

Every statistic is relative to each image's own peak ink level where a threshold is needed, so the
pen, slant and box are measured the same on dim digits as on bright ones.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

__all__ = ["edge_widths", "peak_levels", "shape_stats"]

#: Pixels between these fractions of an image's peak are partial (an edge's grey), for :func:`edge_widths`.
_PARTIAL = (0.1, 0.9)
#: Partial pixels are counted within this many pixels of the stroke core (background noise stays out).
_EDGE_REACH = 3


def peak_levels(images: np.ndarray) -> np.ndarray:
    """Each image's full-ink level: the upper quartile of its pixels at or above half its brightest
    (robust to the few saturated pixels of an MNIST digit and to background noise); 0 for a blank one."""
    values = images.reshape(len(images), -1).astype(np.float64)
    top = values.max(axis=1, keepdims=True, initial=0.0)
    inked = np.where((values >= 0.5 * top) & (top > 0), values, np.nan)
    with np.errstate(all="ignore"):
        peaks = np.nanpercentile(inked, 75, axis=1) if len(values) else np.zeros(0)
    return np.nan_to_num(peaks)


def _cores(images: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """The stroke cores: pixels above half the image's peak level (*peaks*: :func:`peak_levels`)."""
    return images > 0.5 * peaks[:, None, None]


def _outline(core: np.ndarray) -> np.ndarray:
    """Each core mask's outline length in pixel edges."""
    return (core[:, 1:] != core[:, :-1]).sum(axis=(1, 2)) + (core[:, :, 1:] != core[:, :, :-1]).sum(axis=(1, 2))


def _near(mask: np.ndarray, reach: int) -> np.ndarray:
    """*mask* grown by *reach* pixels (4-neighbour steps)."""
    out = mask.copy()
    for _ in range(reach):
        grown = out.copy()
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        grown[:, :, 1:] |= out[:, :, :-1]
        grown[:, :, :-1] |= out[:, :, 1:]
        out = grown
    return out


def edge_widths(images: np.ndarray, peaks: Optional[np.ndarray] = None) -> np.ndarray:
    """Each image's edge width in pixels: its partial pixels (10-90% of its peak, near the strokes)
    over the core's outline. 0 for binary ink; MNIST's anti-aliasing ~0.65; a blur widens it.
    *peaks*: the images' :func:`peak_levels`, if they are known already."""
    peaks = peak_levels(images) if peaks is None else peaks
    core = _cores(images, peaks)
    peaks = peaks[:, None, None]
    low, high = _PARTIAL
    partial = (images > low * peaks) & (images < high * peaks) & _near(core, _EDGE_REACH)
    return partial.sum(axis=(1, 2)) / np.maximum(_outline(core), 1)


def shape_stats(images: np.ndarray, peaks: Optional[np.ndarray] = None) -> Dict[str, float]:
    """The slant's mean and spread (degrees, from second moments), pen width (core area over half its
    outline, pixels), the core's box: longest side (a fraction of the image) and width / height
    (medians), and the background's noise (the spread of the outermost ring of pixels, where digits
    seldom reach: its upper quartile, as a fraction of full scale, robust to the few ink pixels of a
    digit touching the frame). *peaks*: the images' :func:`peak_levels`, if they are known already."""
    weights = images.astype(np.float64) / 255.0
    mass = weights.sum(axis=(1, 2)) + 1e-9
    ys, xs = np.mgrid[: images.shape[1], : images.shape[2]]
    cy = (weights * ys).sum(axis=(1, 2)) / mass
    cx = (weights * xs).sum(axis=(1, 2)) / mass
    dy, dx = ys[None] - cy[:, None, None], xs[None] - cx[:, None, None]
    mu11 = (weights * dx * dy).sum(axis=(1, 2))
    mu02 = (weights * dy * dy).sum(axis=(1, 2)) + 1e-9
    slant = np.degrees(np.arctan(-mu11 / mu02))  # leaning right (top to the right) is positive
    binary = _cores(images, peak_levels(images) if peaks is None else peaks)
    pen = 2.0 * binary.sum(axis=(1, 2)) / np.maximum(_outline(binary), 1)
    rows, cols = binary.any(axis=2), binary.any(axis=1)  # the box of the stroke cores: noise stays out
    height = rows.shape[1] - rows.argmax(axis=1) - rows[:, ::-1].argmax(axis=1)
    width = cols.shape[1] - cols.argmax(axis=1) - cols[:, ::-1].argmax(axis=1)
    seen = binary.any(axis=(1, 2))  # blank images have no box
    ring = np.concatenate([weights[:, 0], weights[:, -1], weights[:, 1:-1, 0], weights[:, 1:-1, -1]], axis=1)
    return {
        "slant": float(slant.mean()), "slant_spread": float(slant.std()), "pen": float(np.median(pen)),
        "longest": float(np.median(np.maximum(height, width)[seen])) / images.shape[1] if seen.any() else 0.0,
        "ratio": float(np.median(width[seen] / np.maximum(height[seen], 1))) if seen.any() else 1.0,
        "noise": float(np.median(np.percentile(ring, 75, axis=1))),
    }
