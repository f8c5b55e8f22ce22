"""A pen with mass: each stroke's path is the target of a pen pulled along it by a damped spring.

Why: a path through jittered control points turns as sharply as its points ask, and a hand cannot. Driven
by a spring (the motor programs of Hinton & Nair, 2005), the pen rounds a sharp turn and may swing a
little past a fast one, as a pen with mass does. The pen chases a target led by the spring's lag, so the
rounded path stays where the drawn one was.

The spring is linear, so for one stroke length, frequency and damping the pen's path is a fixed matrix
times the target path. :func:`spring_matrix` builds that matrix once; :mod:`.strokes` folds it into a
glyph's spline matrix, so a sprung digit costs no more to draw than any other.
"""

from __future__ import annotations

import functools
from typing import Tuple

import numpy as np

__all__ = ["CELLS", "cell_value", "spring_matrix"]

#: Integration substeps a path sample (semi-implicit Euler: stable, its spectral radius under 1, for every
#: frequency up to 2 and damping up to 1.5, the style's limits; at frequency 4 and damping 3 it diverges).
SUBSTEPS = 4

#: Values per knob range: a digit's frequency and damping are each the middle of one of CELLS equal cells
#: of their ranges, so a glyph has at most CELLS**2 sprung matrices to keep.
CELLS = 5


def cell_value(bounds: Tuple[float, float], u: float) -> float:
    """The middle of the cell of *bounds* (low, high) that the uniform *u* falls in."""
    return bounds[0] + (bounds[1] - bounds[0]) * (min(int(u * CELLS), CELLS - 1) + 0.5) / CELLS


def _step(frequency: float, damping: float) -> Tuple[np.ndarray, np.ndarray]:
    """(A, b): one path sample of the pen's state (position, velocity), ``s' = A s + b g`` for a target
    *g*, in SUBSTEPS semi-implicit Euler steps of ``v' = w^2 (g - x) - 2 z w v``."""
    dt, w, z = 1.0 / SUBSTEPS, frequency, damping
    one = np.array([[1.0 - (dt * w) ** 2, dt * (1.0 - 2.0 * z * w * dt)], [-dt * w * w, 1.0 - 2.0 * z * w * dt]])
    pull = np.array([(dt * w) ** 2, dt * w * w])
    a, b = np.eye(2), np.zeros(2)
    for _ in range(SUBSTEPS):
        a, b = one @ a, one @ b + pull
    return a, b


@functools.lru_cache(maxsize=1024)
def spring_matrix(length: int, closed: bool, frequency: float, damping: float) -> np.ndarray:
    """(length x length): a stroke's dense path -> the sprung pen's path. The pen starts on the path at
    rest and chases the point ``round(2 z / w)`` samples ahead (the end of an open stroke, or round a
    closed one, whose last point stays its first)."""
    if length <= 2:
        return _kept(np.eye(length))
    a, b = _step(frequency, damping)
    powers = np.empty((length, 2, 2))
    powers[0] = np.eye(2)
    for t in range(1, length):
        powers[t] = a @ powers[t - 1]
    start = powers[:, 0, 0]  # x_t's share of x_0
    impulse = (powers @ b)[:, 0]  # x_t's share of the target t - 1 - k samples before
    lag = int(round(2.0 * damping / frequency))
    ahead = np.arange(length) + lag
    target = ahead % (length - 1) if closed else np.minimum(ahead, length - 1)
    gap = np.arange(length)[:, None] - 1 - np.arange(length)[None, :]
    chase = np.where(gap >= 0, impulse[np.maximum(gap, 0)], 0.0)  # [t, k]: sample t's share of target k
    matrix = np.zeros((length, length))
    matrix[:, 0] = start
    np.add.at(matrix, (slice(None), target), chase)
    if closed:
        matrix[-1] = matrix[0]
    return _kept(matrix)


def _kept(matrix: np.ndarray) -> np.ndarray:
    """*matrix* made read-only: it is cached, so every caller shares it."""
    matrix.setflags(write=False)
    return matrix
