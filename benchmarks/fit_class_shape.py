"""Fit ``CLASS_SHAPE`` (synthetic/allographs.py): five scalars a class, so its mean image matches real digits'.

Each class's allographs are bent by (slant, width, waist, bow, taper) (``strokes._class_warp``). This
script finds, class by class, the values whose mean generated image (300 digits, the same random streams
for every candidate, so candidates are compared on equal terms) is closest, in squared pixel difference,
to the mean image of the real digits of that class, by coordinate descent from the current table. Only
these 50 numbers come from the real digits: no pixels, strokes or shapes are kept.

Tune on one half of the real digits and confirm on the other (``benchmarks/synthetic.py`` prints TSTR on
both halves):

    python benchmarks/fit_class_shape.py --half first     # prints a CLASS_SHAPE table to paste
"""

from __future__ import annotations

import argparse
import bisect
import sys

import numpy as np

from synthetic import DEFAULT_DATA, halves, load_real

from datumaro_mnist_plugins.synthetic import strokes
from datumaro_mnist_plugins.synthetic.allographs import CLASS_SHAPE
from datumaro_mnist_plugins.synthetic.style import DigitStyle, item_rng

#: First steps of slant (degrees), width, waist, bow and taper; halved each round.
STEPS = np.array([2.0, 0.04, 0.04, 0.03, 0.1])
LOW, HIGH = np.array([-20.0, 0.7, -0.2, -0.15, -0.6]), np.array([20.0, 1.3, 0.2, 0.15, 0.6])
SAMPLES = 300


def mean_image(digit: int, shape: tuple) -> np.ndarray:
    """The mean of SAMPLES digits of class *digit* drawn with the class bent by *shape*."""
    glyphs, cumulative = strokes._compile_table({**CLASS_SHAPE, digit: shape})[digit]
    scans = []
    for i in range(SAMPLES):
        rng = item_rng(7, "fit", i)
        glyph = glyphs[min(bisect.bisect_right(cumulative, float(rng.random())), len(glyphs) - 1)]
        scans.append(strokes._render(glyph, rng, DigitStyle()))
    return strokes.finish(scans, 28).mean(axis=0) / 255.0


def fit_class(digit: int, target: np.ndarray, rounds: int = 3) -> tuple:
    """Coordinate descent on the five scalars of *digit*, from the current table."""
    best_shape = np.array(CLASS_SHAPE[digit], dtype=np.float64)
    loss = lambda shape: float(((mean_image(digit, tuple(shape)) - target) ** 2).sum())  # noqa: E731
    best, steps = loss(best_shape), STEPS.copy()
    for _ in range(rounds):
        for k in range(len(steps)):
            for sign in (1.0, -1.0):
                while True:  # walk while it helps
                    shape = best_shape.copy()
                    shape[k] = np.clip(np.round(shape[k] + sign * steps[k], 3), LOW[k], HIGH[k])
                    value = loss(shape)
                    if value >= best - 1e-4:
                        break
                    best_shape, best = shape, value
        steps /= 2
    return tuple(float(v) for v in best_shape), best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--half", choices=("first", "second", "all"), default="first")
    parser.add_argument("--classes", default="0123456789")
    args = parser.parse_args(argv)
    loaded = load_real(args.data)
    if loaded is None:
        return 2
    images, labels = loaded
    part = halves(len(images))[args.half]
    images, labels = images[part], labels[part]
    print("CLASS_SHAPE = {")
    for digit in map(int, args.classes):
        target = images[labels == digit].astype(np.float64).mean(axis=0) / 255.0
        shape, value = fit_class(digit, target)
        CLASS_SHAPE[digit] = shape  # later classes are drawn with it (they don't interact)
        print(f"    {digit}: {shape},  # squared difference of the mean images {value:.2f}", flush=True)
    print("}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
