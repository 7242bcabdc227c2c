"""Several processes (the gateway instances of one OEM) write one segment store at
once: the store lock serialises their appends and rollovers, so no blob is lost, none
overwrites another, and every one verifies, whichever process reads it."""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
from multiprocessing.synchronize import Barrier
from pathlib import Path

from carchain.storage.segments import SegmentBlobStore
from tests.storage.segment_helpers import make_blob

WRITERS = 3
GROUPS = 30


def blobs_of(writer: int, group: int) -> list[bytes]:
    """A group of a writer: its own blobs, and one every writer stores (deduplicated)."""
    own = [make_blob(f"{writer}/{group}/{i}", 1000 + 700 * i) for i in range(4)]
    return [*own, make_blob(f"shared/{group}")]


def _write(root: Path, writer: int, start: Barrier) -> None:
    store = SegmentBlobStore(root, max_segment_size=20_000)  # many rollovers
    start.wait(60)
    for g in range(GROUPS):
        store.put_many_hashed([(hashlib.sha256(b).digest(), b) for b in blobs_of(writer, g)])
    store.close()


def test_processes_writing_one_store_at_once_lose_nothing(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    SegmentBlobStore(root).close()
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=_write, args=(root, w, start)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0] * WRITERS
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(30)
    expected = {
        hashlib.sha256(b).digest(): b
        for w in range(WRITERS)
        for g in range(GROUPS)
        for b in blobs_of(w, g)
    }
    store = SegmentBlobStore(root, max_segment_size=20_000)
    try:
        assert set(store.iter_digests()) == set(expected)
        for digest, data in expected.items():
            assert store.get(digest) == data  # verified against its address
        spans: dict[int, list[tuple[int, int]]] = {}
        for digest in expected:
            loc = store.index.find(digest)
            assert loc is not None
            spans.setdefault(loc.segment, []).append((loc.offset, loc.offset + loc.length))
        assert len(spans) > WRITERS  # the writers rolled segments over, in turn
        for segment, ranges in spans.items():
            ranges.sort()
            for (_, end), (begin, _) in itertools.pairwise(ranges):
                assert end <= begin, f"two blobs overlap in segment {segment}"
    finally:
        store.close()
