"""The spring-driven pen (synthetic/spring.py): a pen with mass rounds the turns of its path and stays on it."""

import numpy as np
import pytest

from datumaro_mnist_plugins.synthetic.allographs import CLASS_SPRING
from datumaro_mnist_plugins.synthetic.spring import CELLS, cell_value, spring_matrix
from datumaro_mnist_plugins.synthetic.strokes import DigitStyle, item_rng, render_digit
from datumaro_mnist_plugins.synthetic.style import MIN_SPRING_FREQUENCY, PAIR_LIMITS

CELLS_OF_DEFAULT = [(w, z) for w in (0.3, 0.5, 0.7) for z in (0.5, 0.7, 0.9)]


def simulate(path: np.ndarray, frequency: float, damping: float, closed: bool) -> np.ndarray:
    """The pen sample by sample, as physics has it: the reference the matrix must equal."""
    lag = int(round(2 * damping / frequency))
    ahead = np.arange(len(path)) + lag
    target = path[ahead % (len(path) - 1) if closed else np.minimum(ahead, len(path) - 1)]
    x, v, out = path[0].copy(), np.zeros(2), [path[0].copy()]
    for t in range(1, len(path)):
        for _ in range(4):
            v = v + 0.25 * (frequency**2 * (target[t - 1] - x) - 2 * damping * frequency * v)
            x = x + 0.25 * v
        out.append(x.copy())
    if closed:
        out[-1] = out[0]
    return np.array(out)


def corner(length: int = 37) -> np.ndarray:
    """An L: down the left side, then right along the bottom, evenly sampled."""
    half = length // 2
    down = np.stack([np.zeros(half + 1), np.linspace(0, 1, half + 1)], axis=1)
    right = np.stack([np.linspace(0, 1, length - half), np.ones(length - half)], axis=1)
    return np.vstack([down, right[1:]])


def turning(path: np.ndarray) -> float:
    """The sharpest turn between consecutive segments, in degrees."""
    d = np.diff(path, axis=0)
    angles = np.arctan2(d[:, 1], d[:, 0])
    return float(np.degrees(np.abs(np.angle(np.exp(1j * np.diff(angles))))).max())


@pytest.mark.parametrize("frequency, damping", CELLS_OF_DEFAULT + [(2.0, 1.5), (0.1, 0.3)])
@pytest.mark.parametrize("closed", [False, True])
def test_the_matrix_is_the_simulated_pen(frequency, damping, closed):
    path = np.random.default_rng(0).normal(size=(31, 2))
    if closed:
        path[-1] = path[0]
    got = spring_matrix(len(path), closed, frequency, damping) @ path
    np.testing.assert_allclose(got, simulate(path, frequency, damping, closed), atol=1e-12)


@pytest.mark.parametrize("frequency, damping", CELLS_OF_DEFAULT)
def test_a_sprung_pen_rounds_a_corner_and_stays_near_its_path(frequency, damping):
    path = corner()
    sprung = spring_matrix(len(path), False, frequency, damping) @ path
    assert turning(path) == pytest.approx(90.0)
    assert turning(sprung) < 45.0  # the right angle spread over several samples
    gaps = np.linalg.norm(sprung[:, None] - path[None], axis=2).min(axis=1)
    assert gaps.max() < 0.1  # under two of its 18 segments: the lag's lead keeps it in place
    assert np.array_equal(sprung[0], path[0])  # the pen starts where the stroke does


@pytest.mark.parametrize("length", [1, 2, 3, 13, 61])
@pytest.mark.parametrize("closed", [False, True])
def test_a_pen_at_rest_stays_and_a_loop_stays_closed(length, closed):
    if closed and length < 3:
        return
    matrix = spring_matrix(length, closed, 0.5, 0.7)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)  # a still target: a still pen
    if closed:
        assert np.array_equal(matrix[-1], matrix[0])


def test_the_cells_cover_the_range_by_their_middles():
    values = [cell_value((0.3, 0.7), u) for u in np.linspace(0, 1, 101)]
    assert sorted(set(values)) == pytest.approx(0.3 + 0.4 * (np.arange(CELLS) + 0.5) / CELLS)


def test_no_spring_draws_the_path_and_each_class_springs_its_share():
    """``spring_frequency: (0, 0)`` turns the spring off: a class without it draws alike either way, and
    of a class with it, its :data:`CLASS_SPRING` share of the digits change (the rest are byte-identical)."""
    off, count = DigitStyle(spring_frequency=(0.0, 0.0)), 120
    for digit in range(10):
        a, b = (np.stack([render_digit(digit, item_rng(0, "spring", i), style) for i in range(count)])
                for style in (DigitStyle(), off))
        changed = (a != b).any(axis=(1, 2)).mean()
        share = CLASS_SPRING[digit]
        assert changed == share if share in (0.0, 1.0) else abs(changed - share) < 0.15, (digit, changed)


def test_at_every_allowed_frequency_and_damping_the_pen_stays_bounded():
    """A recipe may ask for any knob within its limits: the integration must not diverge there (at
    frequency 4 and damping 3 it grows by 1e256 over a long stroke)."""
    top_frequency, top_damping = PAIR_LIMITS["spring_frequency"][1], PAIR_LIMITS["spring_damping"][1]
    for frequency in np.linspace(MIN_SPRING_FREQUENCY, top_frequency, 14):
        for damping in np.linspace(PAIR_LIMITS["spring_damping"][0], top_damping, 9):
            for closed in (False, True):
                matrix = spring_matrix(400, closed, float(frequency), float(damping))
                assert np.abs(matrix).sum(axis=1).max() < 10.0


@pytest.mark.parametrize("frequency, damping", [((0.05, 0.05), (0.1, 0.1)), ((2.0, 2.0), (1.5, 1.5)),
                                                ((2.0, 2.0), (0.1, 0.1)), ((0.05, 0.05), (1.5, 1.5))])
def test_digits_draw_at_the_corners_of_the_knobs(frequency, damping):
    """Something is drawn, normalized as ever; a pen that barely moves (frequency 0.05) draws a short
    scribble, which the box fit stretches to 20 px."""
    style = DigitStyle(spring_frequency=frequency, spring_damping=damping)
    for digit in (k for k, sprung in CLASS_SPRING.items() if sprung):
        image = render_digit(digit, item_rng(1, "corners", digit), style)
        rows, cols = np.nonzero(image)
        assert image.max() > 200 and max(np.ptp(rows), np.ptp(cols)) + 1 >= 19
