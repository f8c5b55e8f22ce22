"""What counts as a number in what users pass: ``True`` is an ``int`` to Python, never to us.

One place for the rule, so a recipe key, a style knob, a digit and a label all refuse ``True`` alike.
"""

from __future__ import annotations

import math

import numpy as np

_INTS = (int, np.integer)
_REALS = (int, float, np.integer, np.floating)


def is_int(value: object, numpy: bool = True) -> bool:
    """An integer, not a bool; numpy integers too unless *numpy* is False (values bound for YAML)."""
    return isinstance(value, _INTS if numpy else int) and not isinstance(value, bool)


def is_int_in(value: object, low: int, high: int, numpy: bool = True) -> bool:
    """An integer (see :func:`is_int`) with ``low <= value < high``."""
    return is_int(value, numpy) and low <= value < high  # type: ignore[operator]


def is_real(value: object) -> bool:
    """An int or a float of any size (numpy's too), not a bool."""
    return isinstance(value, _REALS) and not isinstance(value, bool)


def is_finite_real(value: object) -> bool:
    """A real number that is not inf or NaN (an int of any size is finite, and never overflows a float)."""
    return is_real(value) and (isinstance(value, _INTS) or math.isfinite(value))  # type: ignore[arg-type]
