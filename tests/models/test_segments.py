"""The pieces of a segmented transfer on their own: range bookkeeping, the ranges state, the prefix hash."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wanprov.models import partfile, writeback
from wanprov.models.partfile import PartChangedError, PartSlot, PrefixHasher
from wanprov.models.segmented import ConnectionBudget, split_pieces
from wanprov.models.segments import RangeSet, load_ranges, save_ranges


def _state_documents() -> st.SearchStrategy[bytes]:
    """Near-valid states: the right schema and file, ranges of any shape."""
    value = st.one_of(st.integers(-5, 120), st.floats(allow_nan=True), st.none(), st.text(max_size=3))
    item = st.one_of(st.lists(value, max_size=3), value)
    return st.lists(item, max_size=8).map(
        lambda ranges: json.dumps(
            {"schema": "wanprov.part-ranges/1", "sha256": "a" * 64, "size": 100, "ranges": ranges}
        ).encode()
    )


def test_rangeset_merges_and_reports_gaps() -> None:
    ranges = RangeSet([(10, 20), (30, 40)])
    ranges.add(20, 25)  # adjacent: merged
    ranges.add(35, 50)  # overlapping: merged
    assert ranges.as_list() == [[10, 25], [30, 50]]
    assert ranges.prefix_end() == 0 and ranges.total() == 35
    assert ranges.missing(60) == [(0, 10), (25, 30), (50, 60)]
    ranges.add(0, 10)
    assert ranges.prefix_end() == 25


def test_pieces_tile_the_gaps() -> None:
    pieces = split_pieces([(0, 100), (150, 1000)], connections=4, min_piece=64)
    spans = [(p.start, p.end) for p in pieces]
    assert spans[0] == (0, 64) and spans[-1][1] == 1000
    assert sum(end - start for start, end in spans) == 950
    assert all(start == p.pos for (start, _), p in zip(spans, pieces, strict=True))


def test_state_round_trip_and_wrong_part_size(tmp_path: Path) -> None:
    with PartSlot(tmp_path / "vae" / "f", tmp_path, "a" * 64) as slot:
        slot.path.write_bytes(b"\0" * 100)
        save_ranges(slot, 100, "a" * 64, RangeSet([(0, 10), (50, 60)]))
        assert load_ranges(slot, 100, "a" * 64).as_list() == [[0, 10], [50, 60]]  # type: ignore[union-attr]
        assert load_ranges(slot, 100, "b" * 64) is None
        slot.path.write_bytes(b"\0" * 99)  # the part does not match the state: not trusted
        assert load_ranges(slot, 100, "a" * 64) is None


def test_prefix_hash_in_any_completion_order(tmp_path: Path) -> None:
    data = random.Random(1).randbytes(1_000_000)
    path = tmp_path / "f.part"
    path.write_bytes(b"\0" * len(data))
    fd = os.open(path, os.O_RDWR)
    try:
        hasher = PrefixHasher(fd)
        pieces = [(start, min(len(data), start + 65_536)) for start in range(0, len(data), 65_536)]
        random.Random(2).shuffle(pieces)
        done = RangeSet()
        for start, end in pieces:
            os.pwrite(fd, data[start:end], start)
            hasher.feed(start, data[start:end])  # hashed from memory only when it extends the prefix
            done.add(start, end)
            hasher.advance(done.prefix_end())  # the rest is read back
        assert hasher.finish(len(data)) == hashlib.sha256(data).hexdigest()
    finally:
        os.close(fd)


def test_budget_serves_a_files_first_connection_before_extra_ones() -> None:
    budget = ConnectionBudget(2)
    never = lambda: False  # noqa: E731
    assert budget.acquire(never, first=True) and budget.acquire(never)  # all slots held
    got: list[str] = []
    first = threading.Thread(target=lambda: budget.acquire(never, first=True) and got.append("first"))
    first.start()
    deadline = time.monotonic() + 10
    while not budget.contended() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert budget.contended()  # an extra connection now makes way between pieces
    stop = threading.Event()
    extra = threading.Thread(target=lambda: budget.acquire(stop.is_set) and got.append("extra"))
    extra.start()
    budget.release()  # one slot frees up: it goes to the waiting first connection, not the extra one
    first.join(10)
    assert got == ["first"]
    stop.set()
    extra.join(10)
    assert got == ["first"] and not budget.contended()


def _write_shuffled(fd: int, data: bytes, hasher: PrefixHasher) -> None:
    pieces = [(start, min(len(data), start + 65_536)) for start in range(0, len(data), 65_536)]
    random.Random(3).shuffle(pieces)
    done = RangeSet()
    for start, end in pieces:
        os.pwrite(fd, data[start:end], start)
        done.add(start, end)
        hasher.advance(done.prefix_end())


def test_prefix_hash_of_a_file_truncated_under_it_is_part_changed(tmp_path: Path) -> None:
    """The read-back uses pread: a file that shrank comes back short (an mmap would die of SIGBUS)."""
    data = random.Random(4).randbytes(700_000)
    path = tmp_path / "f.part"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDWR)
    try:
        hasher = PrefixHasher(fd)
        hasher.finish(100_000)
        os.truncate(path, 50_000)  # another process cuts it
        with pytest.raises(PartChangedError, match="ends at byte 50000"):
            hasher.finish(len(data))
    finally:
        os.close(fd)


def test_out_of_order_bytes_wait_while_the_hasher_lags(tmp_path: Path) -> None:
    data = random.Random(5).randbytes(partfile.HASH_READ * 3)
    path = tmp_path / "f.part"
    path.write_bytes(data)
    gate = threading.Event()
    fd = os.open(path, os.O_RDONLY)
    try:
        hasher = PrefixHasher(fd, after_hash=lambda offset: gate.wait(30))  # stuck after its first read
        hasher.advance(len(data))
        assert hasher.backlog() > 0
        stop = threading.Event()
        waiters = [
            threading.Thread(target=hasher.wait_for_backlog, args=(0, stop.is_set)),  # until it catches up
            threading.Thread(target=hasher.wait_for_backlog, args=(0, stop.is_set)),  # until stopped
        ]
        for waiter in waiters:
            waiter.start()
        waiters[0].join(0.3)
        assert all(waiter.is_alive() for waiter in waiters)  # blocked, not returned at once
        hasher.wait_for_backlog(len(data), stop.is_set)  # within the limit: no wait
        stop.set()
        waiters[1].join(10)
        assert not waiters[1].is_alive()
        stop.clear()
        waiters[0] = threading.Thread(target=hasher.wait_for_backlog, args=(0, stop.is_set))
        waiters[0].start()
        gate.set()  # the hasher catches up
        waiters[0].join(10)
        assert not waiters[0].is_alive() and hasher.backlog() == 0
        assert hasher.finish(len(data)) == hashlib.sha256(data).hexdigest()
    finally:
        gate.set()
        os.close(fd)


def test_start_writeback_is_best_effort(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10_000)
    read_end, write_end = os.pipe()
    fd = os.open(path, os.O_RDWR)
    try:
        if sys.platform == "linux":
            assert writeback._sync_file_range() is not None  # glibc/musl have it: not silently a no-op
        writeback.start_writeback(fd, 0, 10_000)
        writeback.start_writeback(write_end, 0, 10)  # ESPIPE from the kernel: ignored, fsync still decides
        writeback.start_writeback(fd, 0, 0)
        writeback.drop_cached(fd, 0, 10_000)
        assert path.read_bytes() == b"x" * 10_000
    finally:
        for handle in (fd, read_end, write_end):
            os.close(handle)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode), _state_documents()))
def test_any_state_file_is_read_as_valid_ranges_or_not_at_all(tmp_path: Path, state: bytes) -> None:
    """The ranges state is parsed from a file others may have touched: whatever it holds, the result is
    sorted, disjoint ranges inside the file, or None (start over) - never an exception."""
    with PartSlot(tmp_path / "vae" / "f", tmp_path, "a" * 64) as slot:
        slot.path.write_bytes(b"\0" * 100)
        Path(f"{slot.path}.ranges.json").write_bytes(state)
        ranges = load_ranges(slot, 100, "a" * 64)
    if ranges is not None:
        spans = ranges.as_list()
        assert all(0 <= low < high <= 100 for low, high in spans)
        assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))
