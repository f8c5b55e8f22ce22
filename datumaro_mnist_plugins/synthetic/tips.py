"""Pen ends that narrow: where the pen lifts, a stroke's last stretch is a tapered outline, not a round cap.

Why: a real pen comes down and lifts off as it starts and ends a stroke, so a handwritten stroke's ends
are thinner than its middle, and MNIST's digits have a pixel or two of thin ink at most free ends. Drawn
at full width to a round cap, generated digits had too few such pixels in most digits and too many in
the hairline ones: within each class that count was what told them from real digits best (on
``mnist-dev``; the count's tell 0.62, 0.53 with narrowing ends), and narrowing the ends raised TSTR.
A corner two strokes share is one motion of the pen and keeps its width (:mod:`.strokes` finds them).

The outlines of a block's strokes are computed at once, each stroke padded to one length by repeating
its last point (steps of zero length, which change none of its own numbers), so a digit's pixels do
not depend on the block it is drawn in.
"""

from __future__ import annotations

from typing import List, NamedTuple, Sequence, Tuple

import numpy as np

__all__ = ["TIP_WIDTH", "Tip", "tapered_tips"]

#: A stroke's width at its very end, as a fraction of its pen width (the ``taper`` knob sets how far
#: from the end it is full again).
TIP_WIDTH = 0.5


class Tip(NamedTuple):
    """An open stroke drawn with narrowing ends: its full-width middle (drawn as a line with round
    ends) is ``head`` + the stroke's own points ``span`` (from, to: indices into the stroke) + ``tail``
    (flat x, y; a point where the full width begins or ends, none at a corner), and each end where the
    pen lifts is a filled ``outline`` narrowing from the middle's end to a round ``dot`` (x, y, radius)."""

    head: List[float]
    span: Tuple[int, int]
    tail: List[float]
    outlines: Tuple[List[float], ...]
    dots: Tuple[Sequence[float], ...]


#: Points along each narrowing end (its outline's vertices on either side): the same for every stroke,
#: so the outlines of a block's strokes are computed together.
_TIP_POINTS = 3


def _offsets(path: np.ndarray, half: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The outline's left and right side along each row of *path* (m x n x 2), *half* (m x n) from it."""
    ahead = np.diff(path, axis=1)
    tangent = np.concatenate([ahead[:, :1], ahead[:, 1:] + ahead[:, :-1], ahead[:, -1:]], axis=1)
    normal = np.stack([-tangent[..., 1], tangent[..., 0]], axis=2)
    normal /= np.maximum(np.hypot(normal[..., 0], normal[..., 1]), 1e-9)[..., None]
    return path + normal * half[..., None], path - normal * half[..., None]


def _points_at(path: np.ndarray, along: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The points of each row of *path* (m x n x 2) at arc lengths *where* (m x k), *along* being the
    arc length at each path point (m x n)."""
    after = np.clip((along[:, None, :] < where[:, :, None]).sum(axis=2), 1, path.shape[1] - 1)
    rows = np.arange(len(path))[:, None]
    a, b = path[rows, after - 1], path[rows, after]
    span = along[rows, after] - along[rows, after - 1]
    share = np.clip((where - along[rows, after - 1]) / np.maximum(span, 1e-9), 0.0, 1.0)
    return a + (b - a) * share[..., None]


def _outline(points: np.ndarray, half: np.ndarray) -> List[list]:
    """Each row's outline around *points* (m x k x 2), *half* (m x k) to either side, flat x, y."""
    left, right = _offsets(points, half)
    return np.concatenate([left, right[:, ::-1]], axis=1).reshape(len(points), -1).tolist()


def tapered_tips(paths: np.ndarray, lengths: Sequence[int], free: np.ndarray, widths: np.ndarray,
                 taper: float) -> List[Tip]:
    """The :class:`Tip` of each open stroke of *paths* (s x n x 2, scan coordinates; the first
    *lengths* points of each row are its own, the rest repeat its last one) drawn *widths* wide (s,
    scan pixels), its *free* ends (s x 2: start, end) narrowing over *taper* scan pixels (at most a
    third of a short stroke); an end that is not free keeps the full width."""
    step = np.hypot(*np.moveaxis(np.diff(paths, axis=1), 2, 0))
    along = np.concatenate([np.zeros((len(paths), 1)), np.cumsum(step, axis=1)], axis=1)
    total = along[:, -1:]
    reach = np.minimum(taper, total / 3.0)
    fraction = np.linspace(0.0, 1.0, _TIP_POINTS)  # from the end (narrow) to the full width
    half = 0.5 * widths[:, None] * (TIP_WIDTH + (1.0 - TIP_WIDTH) * fraction)
    starts, ends = _points_at(paths, along, np.hstack([reach * fraction, total - reach * fraction[::-1]])).reshape(
        len(paths), 2, _TIP_POINTS, 2).transpose(1, 0, 2, 3)
    free_start, free_end = free[:, 0], free[:, 1]
    spans = zip(np.where(free_start, (along < reach).sum(axis=1), 0).tolist(),
                np.where(free_end, (along < total - reach).sum(axis=1), lengths).tolist())
    radii = half[:, :1] - 0.5
    dots = zip(np.hstack([starts[:, 0], radii]).tolist(), np.hstack([ends[:, -1], radii]).tolist())
    outlines = zip(_outline(starts, half), _outline(ends, half[:, ::-1]))
    rows = zip(starts[:, -1].tolist(), spans, ends[:, 0].tolist(), outlines, dots, free.tolist())
    return [Tip(head if at_start else [], span, tail if at_end else [],
                shapes if at_start and at_end else shapes[:1] if at_start else shapes[1:],
                marks if at_start and at_end else marks[:1] if at_start else marks[1:])
            for head, span, tail, shapes, marks, (at_start, at_end) in rows]
