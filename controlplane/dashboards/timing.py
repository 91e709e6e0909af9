"""ClickHouse's ``quantileTiming`` states merged and read in Python, exactly as
``quantilesTimingMerge`` does (docs/decisions/0048-dashboard-split-windows.md).

A panel's settled hours keep each group's latency state (``hex(…MergeState)``) in the
result cache; the open hours' states come fresh; this adds them and reads p50 and p95
for the few groups a panel shows, without a query more. The state (ClickHouse
``QuantileTiming.h``) is one of: up to 31 values (tiny), up to 5,669 values (medium), or
a histogram (large: every millisecond below 1,024 ms, 16 ms bins up to 30 s). Values
above 30 s count as 30 s. Merged values are exact while there are fewer than 5,670 of
them; a merge that reaches 5,670 becomes the histogram, whatever the order of the
merges, so the result does not depend on how the window was split.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

TINY, MEDIUM, LARGE = 1, 2, 3
TINY_MAX = 31
SMALL = 1024  # values below are counted one by one
BIG = 30_000  # the cap
PRECISION = 16
BIG_SIZE = (BIG - SMALL) // PRECISION
# A medium state becomes the histogram at this many values (half the histogram's bytes
# in UInt16 values).
MEDIUM_MAX = (8 + (SMALL + BIG_SIZE) * 8) // 2 // 2
_MASK = (1 << 64) - 1


def _int_hash32(key: int) -> int:
    """ClickHouse's ``intHash32<0>``."""
    key = ((~key) + (key << 18)) & _MASK
    key ^= (key >> 31) | (key << 33) & _MASK
    key = (key * 21) & _MASK
    key ^= (key >> 11) | (key << 53) & _MASK
    key = (key + (key << 6)) & _MASK
    key ^= (key >> 22) | (key << 42) & _MASK
    return key & 0xFFFFFFFF


# The value a histogram bin stands for: its start, moved by a fixed pseudo-random amount.
_KEYS = np.array(
    [*range(SMALL)]
    + [
        (i * PRECISION + SMALL + _int_hash32(i) % PRECISION - PRECISION // 2) & 0xFFFF
        for i in range(BIG_SIZE)
    ],
    dtype=np.float64,
)


@dataclass
class Timing:
    """A merged state: its values while fewer than ``MEDIUM_MAX``, else the histogram's
    bins and its count (values at the cap count, in no bin)."""

    values: np.ndarray | None
    bins: np.ndarray | None = None
    count: int = 0

    @classmethod
    def empty(cls) -> Timing:
        return cls(values=np.zeros(0, np.uint16))

    @classmethod
    def parse(cls, state: bytes) -> Timing:
        kind = state[0]
        if kind == TINY:
            (count,) = struct.unpack_from("<H", state, 1)
            return cls(values=np.frombuffer(state, "<u2", count, 3))
        if kind == MEDIUM:
            (count,) = struct.unpack_from("<Q", state, 1)
            return cls(values=np.frombuffer(state, "<u2", count, 9))
        if kind != LARGE:
            raise ValueError(f"not a quantileTiming state (kind {kind})")
        (count,) = struct.unpack_from("<Q", state, 1)
        if count * 2 > SMALL + BIG_SIZE:  # dense: every bin
            bins = np.frombuffer(state, "<u8", SMALL + BIG_SIZE, 9).astype(np.uint64)
        else:  # sparse: (bin, count) pairs until the bin BIG
            bins = np.zeros(SMALL + BIG_SIZE, np.uint64)
            offset = 9
            while (index := struct.unpack_from("<H", state, offset)[0]) != BIG:
                bins[index] = struct.unpack_from("<Q", state, offset + 2)[0]
                offset += 10
        return cls(values=None, bins=bins, count=count)

    def _large(self) -> Timing:
        if self.values is None:
            return self
        values = self.values.astype(np.int64)
        values = values[values < BIG]
        index = np.where(values < SMALL, values, SMALL + (values - SMALL) // PRECISION)
        bins = np.bincount(index, minlength=SMALL + BIG_SIZE).astype(np.uint64)
        return Timing(values=None, bins=bins, count=len(self.values))

    def merge(self, other: Timing) -> Timing:
        if self.values is not None and other.values is not None:
            return Timing(values=np.concatenate([self.values, other.values]))
        mine, theirs = self._large(), other._large()
        assert mine.bins is not None and theirs.bins is not None
        return Timing(values=None, bins=mine.bins + theirs.bins, count=mine.count + theirs.count)

    @classmethod
    def merge_all(cls, states: list[Timing]) -> Timing:
        """``states`` merged one by one (in any order: the result is the same), with the
        values copied once."""
        values = [state.values for state in states if state.values is not None]
        merged = cls(values=np.concatenate(values)) if values else cls.empty()
        for state in states:
            if state.values is None:
                merged = merged.merge(state)
        return merged

    def quantiles(self, levels: tuple[float, ...]) -> list[float]:
        """``quantilesTimingMerge(levels)`` of the state: NaN when empty."""
        # Merged into an empty state, as ClickHouse finishes, values become the histogram
        # from MEDIUM_MAX on.
        state = self
        if self.values is not None and len(self.values) >= MEDIUM_MAX:
            state = self._large()
        if state.values is not None:
            size = len(state.values)
            if not size:
                return [math.nan] * len(levels)
            ordered = np.sort(state.values)
            return [
                float(ordered[int(level * size) if level < 1 else size - 1]) for level in levels
            ]
        assert state.bins is not None
        accumulated = np.cumsum(state.bins, dtype=np.float64)
        found = []
        for level in levels:
            reached = np.flatnonzero(accumulated >= math.ceil(state.count * level))
            found.append(float(_KEYS[reached[0]]) if len(reached) else float(BIG))
        return found
