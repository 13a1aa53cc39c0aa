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

if TYPE_CHECKING:
    from wanprov.models.partfile import PartSlot

STATE_SCHEMA = "wanprov.part-ranges/1"


class RangeSet:
    """Sorted, merged half-open byte ranges [start, end)."""

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self._ranges: list[list[int]] = []
        for start, end in ranges:
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        merged: list[list[int]] = []
        for low, high in sorted([*self._ranges, [start, end]]):
            if merged and low <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        self._ranges = merged

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
        document = json.loads(text)
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
    result = RangeSet()
    for item in ranges:
        if not (isinstance(item, list) and len(item) == 2 and all(type(v) is int for v in item)):
            return None
        start, end = item
        if not (previous_end < start < end <= size):  # sorted, disjoint, inside the file
            return None
        previous_end = end
        result.add(start, end)
    return result


def save_ranges(slot: PartSlot, size: int, sha256: str, ranges: RangeSet) -> None:
    document = {"schema": STATE_SCHEMA, "sha256": sha256, "size": size, "ranges": ranges.as_list()}
    slot.write_state(json.dumps(document) + "\n")
