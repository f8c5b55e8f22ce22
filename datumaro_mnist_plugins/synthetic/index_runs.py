"""A subset's kept items as runs of consecutive indices: ``0-999999`` is two numbers, not a million ints.

A filtered recipe subset keeps up to a million items. Held as runs (each run's first item, and where it
starts among the kept items), a contiguous million costs a few bytes and any set at most 8 bytes a run;
the recipe's text is read one range at a time, never split into a list. Lookups are binary searches;
slices (the blocks a renderer draws) are numpy arrays.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Sequence
from typing import Any, Iterator, Optional, Tuple, Union

import numpy as np

from ..checks import is_int
from .limits import brief

#: Runs turned into Python ints (or text) at a time: iterating and writing stay small.
_CHUNK = 4096
#: Items and positions are 32-bit (a recipe's count is at most 10**9): 8 bytes a run.
_INDEX = np.int32
_LIMIT = 2**31


class IndexRuns(Sequence):
    """Increasing item indices, stored as runs; equal sets are equal (touching runs are merged)."""

    __slots__ = ("_starts", "_offsets")

    def __init__(self, starts: np.ndarray, offsets: np.ndarray):
        # starts[r]: run r's first item; offsets[r]: its position among the kept items; offsets[-1]: the count
        self._starts, self._offsets = starts, offsets

    @classmethod
    def from_bounds(cls, firsts: Any, stops: Any) -> "IndexRuns":
        """Runs ``[firsts[r], stops[r])``: non-empty, increasing, disjoint, within 0..2^31-1."""
        firsts, stops = np.asarray(firsts), np.asarray(stops)
        if len(firsts) and not (0 <= firsts[0] and stops[-1] <= _LIMIT):
            raise ValueError(f"indices must be whole numbers 0..{_LIMIT - 1}")
        apart = firsts[1:] != stops[:-1]  # a run that starts where the last one stopped continues it
        if not apart.all():  # merged: one set of items, one form
            firsts, stops = firsts[np.concatenate(([True], apart))], stops[np.concatenate((apart, [True]))]
        offsets = np.zeros(len(firsts) + 1, _INDEX)
        np.cumsum(stops - firsts, dtype=_INDEX, out=offsets[1:])
        return cls(firsts.astype(_INDEX, copy=False), offsets)

    @classmethod
    def of(cls, values: Union["IndexRuns", range, Sequence, np.ndarray]) -> "IndexRuns":
        """From increasing whole numbers (a ValueError if they are not)."""
        if isinstance(values, IndexRuns):
            return values
        if isinstance(values, range) and values.step == 1:
            return cls.from_bounds([values.start] * bool(values), [values.stop] * bool(values))
        array_ = np.asarray(values, np.int64).reshape(-1)
        steps = np.diff(array_)
        if np.any(steps <= 0):
            raise ValueError("indices must be increasing")
        breaks = np.flatnonzero(steps != 1) + 1
        firsts = array_[np.concatenate(([0], breaks))] if len(array_) else array_
        lasts = array_[np.concatenate((breaks - 1, [len(array_) - 1]))] if len(array_) else array_
        return cls.from_bounds(firsts, lasts + 1)

    @classmethod
    def parse(cls, text: str, count: int) -> "IndexRuns":
        """``"0-3,7"``: each range must lie in 0..count-1 and come after the one before (else a ValueError).

        Read a chunk of ranges at a time (vectorized when the chunk is plain ASCII ranges), never split
        into a list of a million strings.
        """
        firsts: Any = []
        stops: Any = []
        last, pos = -1, 0
        while pos < len(text):
            end = text.find(",", pos + _CHUNK * 8)
            end = len(text) if end < 0 else end
            chunk = text[pos:end].replace(" ", "")
            pos = end + 1
            found = _plain_ranges(chunk)
            if found is None or not _in_order(found[0], found[1], last, count):
                found = _ranges_one_by_one(chunk, last, count)  # the exact error, or what int() reads
            if len(found[0]):
                firsts.append(found[0].astype(_INDEX))  # checked: < count <= 10**9
                stops.append(found[1].astype(_INDEX) + 1)
                last = int(found[1][-1])
        firsts = np.concatenate(firsts) if firsts else np.zeros(0, _INDEX)  # each list freed as it is joined
        stops = np.concatenate(stops) if stops else np.zeros(0, _INDEX)
        return cls.from_bounds(firsts, stops)

    def text(self) -> str:
        """``"0-3,7"``: the runs as a line of text, written a chunk of runs at a time."""
        chunks = []
        for lo in range(0, len(self._starts), _CHUNK):
            firsts = self._starts[lo : lo + _CHUNK]
            lasts = firsts + np.diff(self._offsets[lo : lo + _CHUNK + 1]) - 1
            chunks.append(",".join(f"{f}" if f == t else f"{f}-{t}" for f, t in zip(firsts.tolist(), lasts.tolist())))
        return ",".join(chunks)

    def position(self, index: int) -> int:
        """Where *index* is among the kept items (-1 if it is not kept)."""
        run = int(np.searchsorted(self._starts, index, side="right")) - 1
        if run < 0:
            return -1
        step = index - int(self._starts[run])
        return int(self._offsets[run]) + step if step < self._offsets[run + 1] - self._offsets[run] else -1

    def _at(self, positions: np.ndarray) -> np.ndarray:
        runs = np.searchsorted(self._offsets, positions, side="right") - 1
        return self._starts[runs] + (positions - self._offsets[runs])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, key):
        if isinstance(key, slice):
            return self._at(np.arange(*key.indices(len(self)), dtype=np.int64))
        position = int(key) + (len(self) if int(key) < 0 else 0)
        if not 0 <= position < len(self):
            raise IndexError(f"item {key} of {len(self)}")
        return int(self._at(np.int64(position)))

    def __contains__(self, index: object) -> bool:
        return is_int(index) and self.position(int(index)) >= 0

    def __iter__(self) -> Iterator[int]:
        for lo in range(0, len(self._starts), _CHUNK):
            lengths = np.diff(self._offsets[lo : lo + _CHUNK + 1]).tolist()
            for first, length in zip(self._starts[lo : lo + _CHUNK].tolist(), lengths):
                yield from range(first, first + length)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self[:].astype(dtype or np.int64, copy=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IndexRuns):
            return NotImplemented
        return np.array_equal(self._starts, other._starts) and np.array_equal(self._offsets, other._offsets)

    def __hash__(self) -> int:
        return hash((len(self), self._starts[:8].tobytes(), self._starts[-8:].tobytes()))

    def __repr__(self) -> str:
        head = IndexRuns(self._starts[:5], self._offsets[:6]).text()
        return f"IndexRuns('{head}{',...' if len(self._starts) > 5 else ''}', {len(self)} items)"


_PLAIN = re.compile(r"(?:[0-9]{1,18}(?:-[0-9]{1,18})?)?(?:,(?:[0-9]{1,18}(?:-[0-9]{1,18})?)?)*")


def _plain_ranges(chunk: str) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """The first and last items of a chunk of ``a`` / ``a-b`` parts, or None if it is not that plain."""
    if not _PLAIN.fullmatch(chunk):
        return None
    raw = np.frombuffer(chunk.encode("ascii"), np.uint8)
    digits = raw - np.uint8(ord("0"))
    is_digit = np.concatenate(([False], digits < 10, [False]))
    starts = np.flatnonzero(is_digit[1:-1] & ~is_digit[:-2])
    stops = np.flatnonzero(is_digit[1:-1] & ~is_digit[2:]) + 1
    if not len(starts):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lengths = stops - starts
    where = np.flatnonzero(is_digit[1:-1])  # each digit's place value: 10 ** (digits after it in its number)
    power = 10 ** (np.repeat(stops, lengths) - where - 1)
    values = np.add.reduceat(digits[where].astype(np.int64) * power, np.cumsum(lengths) - lengths)
    is_last = np.zeros(len(starts), bool)
    is_last[starts > 0] = raw[starts[starts > 0] - 1] == ord("-")
    firsts = values[~is_last]
    lasts = firsts.copy()
    lasts[np.cumsum(~is_last)[is_last] - 1] = values[is_last]
    return firsts, lasts


def _in_order(firsts: np.ndarray, lasts: np.ndarray, last: int, count: int) -> bool:
    """Every range within 0..count-1, each after the one before (the first after *last*)."""
    return bool(np.all(firsts <= lasts) and np.all(lasts < count) and np.all(firsts[1:] > lasts[:-1])
                and (not len(firsts) or firsts[0] > last))


def _ranges_one_by_one(chunk: str, last: int, count: int) -> Tuple[np.ndarray, np.ndarray]:
    """A chunk read part by part, as ``int()`` reads numbers: the slow path, and the one with the error."""
    firsts, lasts = array("q"), array("q")
    for part in filter(None, chunk.split(",")):
        first_text, _, last_text = part.partition("-")
        first, end = int(first_text), int(last_text or first_text)
        if not 0 <= first <= end < count:
            raise ValueError(f"range {brief(part)} is not within 0..{count - 1}")
        if first <= last:
            raise ValueError(f"indices must be increasing: {brief(part)} comes after {last}")
        firsts.append(first)
        lasts.append(end)
        last = end
    return np.frombuffer(firsts, np.int64), np.frombuffer(lasts, np.int64)
