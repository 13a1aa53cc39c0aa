"""What of a segmented part file is on disk: the ranges state kept beside it (partfile.py does its I/O).

Segments land at their offsets in a part file of the full size, so the file's length says nothing about what
arrived. `<part>.ranges.json` does: the finished byte ranges, rewritten (atomically) as each piece completes
and when a run stops. A state file that is unreadable, of another file (sha256, size) or inconsistent with
the part file is ignored and the download starts over: it is never trusted. It can only under-state what is
on disk (data is written before the state names it), and the final sha256 check catches the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from wanprov.strict import loads_json

if TYPE_CHECKING:
    from wanprov.models.partfile import PartSlot

STATE_SCHEMA = "wanprov.part-ranges/1"


def _first_end(ranges: list[list[int]], start: int) -> int:
    """Index of the first range whose end is >= start (ranges sorted and disjoint, so ends are sorted)."""
    low, high = 0, len(ranges)
    while low < high:
        middle = (low + high) // 2
        if ranges[middle][1] < start:
            low = middle + 1
        else:
            high = middle
    return low


class RangeSet:
    """Sorted, merged half-open byte ranges [start, end)."""

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self._ranges: list[list[int]] = []
        for start, end in ranges:
            self.add(start, end)

    @classmethod
    def from_sorted(cls, ranges: Iterable[tuple[int, int]]) -> RangeSet:
        """Ranges already sorted and disjoint (a checked state file): built in linear time."""
        result = cls()
        result._ranges = [[start, end] for start, end in ranges]
        return result

    def add(self, start: int, end: int) -> None:
        """Insert [start, end), merging the neighbours it touches: a binary search and one splice, so a
        state file of thousands of ranges is not quadratic to rebuild."""
        if end <= start:
            return
        ranges = self._ranges
        # first range whose end reaches start, and first range that starts after end
        low = _first_end(ranges, start)
        high = low
        while high < len(ranges) and ranges[high][0] <= end:
            high += 1
        if low < high:
            start, end = min(start, ranges[low][0]), max(end, ranges[high - 1][1])
        ranges[low:high] = [[start, end]]

    def prefix_end(self) -> int:
        """End of the range that starts at byte 0 (0 when byte 0 is missing)."""
        return self._ranges[0][1] if self._ranges and self._ranges[0][0] == 0 else 0

    def missing(self, size: int) -> list[tuple[int, int]]:
        gaps, cursor = [], 0
        for low, high in self._ranges:
            if low > cursor:
                gaps.append((cursor, low))
            cursor = max(cursor, high)
        if cursor < size:
            gaps.append((cursor, size))
        return gaps

    def total(self) -> int:
        return sum(high - low for low, high in self._ranges)

    def as_list(self) -> list[list[int]]:
        return [list(item) for item in self._ranges]


def load_ranges(slot: PartSlot, size: int, sha256: str) -> RangeSet | None:
    """The finished ranges of the slot's part if its state file is sound and matches this file; else None.

    A link or FIFO at the state's or the part's name is refused by the slot (UnsafePathError)."""
    text = slot.read_state()
    if text is None or slot.part_size() != size:
        return None
    try:
        document = loads_json(text)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("schema") != STATE_SCHEMA:
        return None
    if document.get("sha256") != sha256 or document.get("size") != size:
        return None
    ranges = document.get("ranges")
    if not isinstance(ranges, list):
        return None
    previous_end = -1
    checked: list[tuple[int, int]] = []
    for item in ranges:
        if not (isinstance(item, list) and len(item) == 2 and all(type(v) is int for v in item)):
            return None
        start, end = item
        if not (previous_end < start < end <= size):  # sorted, disjoint, inside the file
            return None
        previous_end = end
        checked.append((start, end))
    return RangeSet.from_sorted(checked)


def save_ranges(slot: PartSlot, size: int, sha256: str, ranges: RangeSet) -> None:
    document = {"schema": STATE_SCHEMA, "sha256": sha256, "size": size, "ranges": ranges.as_list()}
    slot.write_state(json.dumps(document) + "\n")
