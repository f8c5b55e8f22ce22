"""The random streams of a block of items, the same as :func:`.style.item_rng` gives, ten times cheaper.

Why: ``numpy.random.default_rng([seed, crc, index])`` hashes its seed in a Python-level loop and
starts a new bit generator, several tens of microseconds an item, a fifth of a digit's drawing. Here
numpy's ``SeedSequence`` hash (O'Neill's, as numpy 1.17+ implements it: a pool of four 32-bit words)
runs vectorized over the block, and PCG64's seeding is done on Python integers; one bit generator is
re-seeded for each item in turn. Any value the fast path does not cover (a word of 32 bits or more)
falls back to :func:`.style.item_rng`. The tests check the streams equal item_rng's.
"""

from __future__ import annotations

import zlib
from typing import Iterator, Sequence

import numpy as np

from .style import item_rng

_MASK32, _MASK128 = 0xFFFFFFFF, (1 << 128) - 1
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715
_POOL = 4
#: PCG64's LCG multiplier (128 bits).
_PCG_MULT = (2549297995355413924 << 64) | 4865540595714422341


def _hash_constants(init: int, mult: int, count: int) -> list:
    """The hash constant before each of *count* hashes (it does not depend on the data)."""
    out = []
    for _ in range(count):
        out.append(init)
        init = (init * mult) & _MASK32
    return out


#: SeedSequence's mix_entropy hashes 4 + 4 * 3 times, generate_state (4 uint64 = 8 words) 8 times.
_CONST_A = _hash_constants(_INIT_A, _MULT_A, _POOL + _POOL * (_POOL - 1) + 1)
_CONST_B = _hash_constants(_INIT_B, _MULT_B, 2 * _POOL + 1)


def _hash(value: np.ndarray, const: int, next_const: int) -> np.ndarray:
    value = (value ^ np.uint32(const)) * np.uint32(next_const)
    return value ^ (value >> np.uint32(16))


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result = x * np.uint32(_MIX_MULT_L) - y * np.uint32(_MIX_MULT_R)
    return result ^ (result >> np.uint32(16))


def _pcg_states(words: np.ndarray) -> np.ndarray:
    """``SeedSequence(entropy).generate_state(4, uint64)`` for each row of 3 entropy words (N x 3 uint32)."""
    a = iter(zip(_CONST_A, _CONST_A[1:]))
    pool = [_hash(words[:, i] if i < words.shape[1] else np.zeros(len(words), np.uint32), *next(a))
            for i in range(_POOL)]
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = _mix(pool[dst], _hash(pool[src], *next(a)))
    b = list(zip(_CONST_B, _CONST_B[1:]))
    state = np.stack([_hash(pool[i % _POOL], *b[i]) for i in range(2 * _POOL)], axis=1)
    return state.astype("<u4").view("<u8").astype(np.uint64)  # N x 4, as numpy reads the words


def item_streams(seed: int, subset: str, indices: Sequence[int]) -> Iterator[np.random.Generator]:
    """For each of *indices* in turn, a generator in the state ``item_rng(seed, subset, index)`` starts in.

    The same generator object is re-seeded for the next item: use each before asking for the next.
    """
    indices = [int(i) for i in indices]
    if not indices or not 0 <= seed <= _MASK32 or not all(0 <= i <= _MASK32 for i in indices):
        yield from (item_rng(seed, subset, i) for i in indices)
        return
    words = np.empty((len(indices), 3), np.uint32)
    words[:, 0], words[:, 1], words[:, 2] = seed, zlib.crc32(subset.encode("utf-8")), indices
    bit_generator = np.random.PCG64(0)
    generator = np.random.Generator(bit_generator)
    for s0, s1, i0, i1 in _pcg_states(words).tolist():
        inc = (((i0 << 64) | i1) << 1 | 1) & _MASK128
        state = ((inc + ((s0 << 64) | s1)) * _PCG_MULT + inc) & _MASK128  # pcg64_set_seed's two steps
        bit_generator.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc},
                               "has_uint32": 0, "uinteger": 0}
        yield generator
