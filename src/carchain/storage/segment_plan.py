"""Where the next blobs of a segment store go: the active segment's end, or a new segment."""

from __future__ import annotations

from collections.abc import Sequence

from carchain.storage.segment_files import Location
from carchain.storage.segment_index import SegmentRow


class SegmentPlan:
    """Places blobs one after another; ``sizes`` holds the new indexed end of every
    segment placed into, ``new`` the segments this plan creates."""

    def __init__(self, segments: Sequence[SegmentRow], max_size: int, fresh: bool = False) -> None:
        live = [s for s in segments if not s.retired]
        self.max_size = max_size
        self.next_id = max((s.id for s in segments), default=0) + 1
        self.sizes: dict[int, int] = {}
        self.new: set[int] = set()
        if live and not fresh:
            self.active, self.end = live[-1].id, live[-1].size
        else:
            self._roll_over()

    def _roll_over(self) -> None:
        self.active, self.next_id, self.end = self.next_id, self.next_id + 1, 0
        self.new.add(self.active)

    def place(self, length: int) -> Location:
        """Return where a blob of ``length`` bytes goes (a lone blob larger than the limit
        gets a segment of its own)."""
        if self.end and self.end + length > self.max_size:
            self._roll_over()
        location = Location(self.active, self.end, length)
        self.end += length
        self.sizes[self.active] = self.end
        return location

    def mark_committed(self) -> None:
        """Record that the placements so far are indexed (their segments exist now)."""
        self.new.clear()
        self.sizes.clear()
