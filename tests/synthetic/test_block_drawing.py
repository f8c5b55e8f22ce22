"""Digits drawn a block at a time are the digits drawn one by one: the fast streams are item_rng's, and
the block finish (ink levels, centring, noise) does not let one digit of a block change another."""

import numpy as np
from hypothesis import example, given, settings, strategies as st

from datumaro_mnist_plugins.synthetic.parallel import render_items
from datumaro_mnist_plugins.synthetic.streams import item_streams
from datumaro_mnist_plugins.synthetic.strokes import DigitStyle, item_rng, render_digit

WORD = 2**32 - 1
indices = st.lists(st.one_of(st.integers(0, 5000), st.integers(WORD - 2, WORD + 2), st.integers(0, 2**63)),
                   max_size=12)


@settings(max_examples=60, deadline=None)
@given(seed=st.one_of(st.integers(0, 10), st.integers(WORD - 1, WORD + 1)), subset=st.text(max_size=8),
       indices=indices)
def test_the_streams_of_a_block_are_item_rngs(seed, subset, indices):
    for index, stream in zip(indices, item_streams(seed, subset, indices)):
        expected = item_rng(seed, subset, index)
        assert stream.random(3).tolist() == expected.random(3).tolist(), index
        assert stream.standard_normal(2).tolist() == expected.standard_normal(2).tolist(), index
        assert stream.integers(0, 1000, 4).tolist() == expected.integers(0, 1000, 4).tolist(), index


styles = st.builds(
    lambda size, scale, noise, alpha, width: DigitStyle(image_size=size, scale=scale, noise=noise,
                                                        elastic_alpha=alpha, stroke_width=width),
    size=st.sampled_from([8, 28, 33]),
    scale=st.sampled_from([(1.0, 1.0), (0.4, 1.4)]),  # one box for the block, or many
    noise=st.sampled_from([0.0, 0.1]),
    alpha=st.sampled_from([0.0, 45.0]),
    width=st.sampled_from([(1.3, 3.3), (0.3, 8.0)]),
)


@settings(max_examples=12, deadline=None)
# A 2x2 box (8-px images at scale 0.4) with more 255s drawn than it has pixels: it used to crash.
@example(style=DigitStyle(image_size=8, scale=(0.4, 1.4), noise=0.0, elastic_alpha=0.0), seed=3, first=202,
         count=24, split=1)
@given(style=styles, seed=st.integers(0, 3), first=st.integers(0, 10_000), count=st.integers(1, 24),
       split=st.integers(1, 23))
def test_a_block_draws_the_same_bytes_as_each_digit_alone(style, seed, first, count, split):
    block = list(range(first, first + count))
    digits = [(i * 7) % 10 for i in block]
    together = render_items(seed, style, "train", block, digits)
    alone = np.stack([render_digit(d, item_rng(seed, "train", i), style) for i, d in zip(block, digits)])
    assert together.dtype == np.uint8 and together.shape == (count, style.image_size, style.image_size)
    assert np.array_equal(together, alone)
    halves = [render_items(seed, style, "train", part, digits[k : k + len(part)])
              for k, part in ((0, block[:split]), (split, block[split:])) if part]
    assert np.array_equal(np.concatenate(halves), together)
