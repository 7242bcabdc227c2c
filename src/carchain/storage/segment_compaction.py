"""Compaction of a segment blob store: rewrite mostly-dead segments, then remove them.

A segment whose deleted share exceeds the threshold has its live blobs copied (and
verified) into the active segment; only once the copies are durable does one index
commit point the blobs at them and retire the old segment, whose file is removed
last. A crash before the commit leaves unindexed bytes past the active segment's
end (cut off on recovery); a crash after it leaves a retired file (removed on
recovery). Deleted blobs are zeroed when deleted, never left for compaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from carchain.storage.segment_files import Location
from carchain.storage.segment_index import Placement
from carchain.storage.segment_plan import SegmentPlan

if TYPE_CHECKING:
    from carchain.storage.segments import SegmentBlobStore


def compact_segments(store: SegmentBlobStore, threshold: float) -> int:
    """Rewrite ``store``'s segments more than ``threshold`` (0 to 1) dead; return how many."""
    if not 0 <= threshold < 1:
        raise ValueError("a compaction threshold is a fraction in [0, 1)")
    with store.mutating() as segments:
        victims = [s.id for s in segments if s.compute_dead_fraction() > threshold]
        if not victims:
            return 0
        # Copies never go into a segment being rewritten: start a new one if the
        # active segment is among them.
        plan = SegmentPlan(segments, store.max_segment_size, fresh=segments[-1].id in victims)
        for segment in victims:
            _move_live_blobs(store, plan, segment)
        return len(victims)


def _move_live_blobs(store: SegmentBlobStore, plan: SegmentPlan, segment: int) -> None:
    """Copy ``segment``'s live blobs durably, re-index them, retire and remove it."""
    live = store.index.get_live(segment)
    moved = [(digest, plan.place(old.length)) for digest, old in live]
    store.write_durably(plan, _read_copies(store, live, moved))
    store.index.commit_moves(moved, plan.sizes, segment)
    plan.mark_committed()
    store.remove_segment(segment)


def _read_copies(
    store: SegmentBlobStore, live: list[Placement], moved: list[Placement]
) -> Iterator[tuple[Location, bytes]]:
    """Yield each copy's new location with its verified bytes, one blob in memory at a time."""
    for old, (_, new) in zip(live, moved, strict=True):
        yield new, store.read_placement(old)
