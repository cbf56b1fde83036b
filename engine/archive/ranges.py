"""Sets of message ids as sorted, disjoint, inclusive ranges: what the checkpoint keeps.

A chat's checkpoint says which id ranges are durable in the archive. Fetching adds
ranges as batches become durable; a re-run asks ``missing(lo, hi)`` for what is left.
Ranges that touch or overlap merge, so the list stays as short as the history's holes.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable


class IdRanges:
    def __init__(self, ranges: Iterable[tuple[int, int]] = ()):
        self._r: list[tuple[int, int]] = []
        for lo, hi in ranges:
            self.add(lo, hi)

    def add(self, lo: int, hi: int) -> None:
        """Mark ids lo..hi (inclusive) as covered."""
        if lo > hi:
            raise ValueError(f"empty range {lo}..{hi}")
        r = self._r
        i = bisect.bisect_left(r, (lo, lo))
        if i and r[i - 1][1] >= lo - 1:          # touches or overlaps the one before
            i -= 1
            lo = r[i][0]
        j = i
        while j < len(r) and r[j][0] <= hi + 1:  # swallow every range it touches
            hi = max(hi, r[j][1])
            j += 1
        r[i:j] = [(lo, hi)]

    def __contains__(self, msg_id: int) -> bool:
        i = bisect.bisect_right(self._r, (msg_id, float("inf")))
        return bool(i) and self._r[i - 1][1] >= msg_id

    def missing(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The sub-ranges of lo..hi not covered yet, in order."""
        out, cur = [], lo
        for a, b in self._r:
            if b < cur:
                continue
            if a > hi:
                break
            if a > cur:
                out.append((cur, a - 1))
            cur = max(cur, b + 1)
            if cur > hi:
                break
        if cur <= hi:
            out.append((cur, hi))
        return out

    def first_missing(self, lo: int, hi: int) -> int | None:
        """The lowest id of lo..hi not covered, or None: ``missing(lo, hi)[0][0]`` found by
        bisection, however many holes lie above it."""
        r = self._r
        i = bisect.bisect_right(r, (lo, float("inf")))
        cur = r[i - 1][1] + 1 if i and r[i - 1][1] >= lo else lo
        return cur if cur <= hi else None

    @property
    def ranges(self) -> list[tuple[int, int]]:
        return list(self._r)

    def max_id(self) -> int:
        return self._r[-1][1] if self._r else 0

    def __eq__(self, other) -> bool:
        return isinstance(other, IdRanges) and self._r == other._r

    def __repr__(self) -> str:
        return f"IdRanges({self._r})"
