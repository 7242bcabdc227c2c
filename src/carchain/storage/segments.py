"""A blob store of append-only segment files, without a file per blob.

``FileBlobStore`` makes a file per blob: at fleet scale a gateway would create
144M files a day. ``SegmentBlobStore`` appends blobs to segment files
(``<root>/<id>.seg``, at most ``max_segment_size`` bytes each, 256 MiB by default)
and indexes them in SQLite (``<root>/index.db``: content hash to segment, offset,
length; ``segment_index``). Same port (``BlobStore``), same guarantees:

- Durable groups: ``put_many_hashed`` writes the group, fsyncs the segment data
  once, and only then commits the index (WAL, ``synchronous=FULL``). An indexed blob
  is always on disk; bytes past a segment's indexed end are a write that crashed
  before its commit and are cut off by the next writer (``_recover``).
- Verify on read: SHA-256 of the bytes must equal the address (``StorageCorrupted``).
- Crypto-shredding: ``delete`` unindexes the blob and records it as being shredded
  (one commit), overwrites its bytes in place with zeros and fsyncs, then clears the
  record; a crash in between is finished on the next mutation. Erasure never waits
  for compaction. (In-place overwrite erases on ext4/xfs; copy-on-write file systems
  and flash translation layers may keep old blocks, as with any file deletion.)
- Compaction (``segment_compaction``) copies the live blobs of mostly-dead segments
  into the active one and removes the old files.
- Concurrency: mutations hold ``StoreLock`` (thread lock plus ``flock``), so several
  threads, store instances or processes may share a store; reads take no lock and
  retry if compaction moved the blob under them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from carchain.crypto.hashing import compute_sha256
from carchain.errors import NotFound, StorageCorrupted
from carchain.storage.blobstore import make_private_dir, validate_digest
from carchain.storage.segment_compaction import compact_segments
from carchain.storage.segment_files import (
    Location,
    SegmentWriter,
    StoreLock,
    fsync_dir,
    get_segment_path,
    list_segment_files,
    read_at,
    remove_file,
    truncate_to,
    zero_at,
)
from carchain.storage.segment_index import Placement, SegmentIndex, SegmentRow
from carchain.storage.segment_plan import SegmentPlan

DEFAULT_MAX_SEGMENT_SIZE = 256 * 1024 * 1024
INDEX_NAME = "index.db"
_READ_ATTEMPTS = 4  # a blob compaction keeps moving is read again, a few times


class SegmentBlobStore:
    """Blobs appended to segment files under ``root``, indexed in SQLite."""

    def __init__(
        self,
        root: Path,
        *,
        fsync: bool = True,
        max_segment_size: int = DEFAULT_MAX_SEGMENT_SIZE,
    ) -> None:
        if max_segment_size < 1:
            raise ValueError("a segment holds at least one byte")
        make_private_dir(root)
        self.root = root
        self.fsync = fsync
        self.max_segment_size = max_segment_size
        self.lock = StoreLock(root / "lock")
        self.index = SegmentIndex(root / INDEX_NAME)
        with self.mutating():
            self._remove_orphans()

    def close(self) -> None:
        """Close the index and the lock file."""
        self.index.close()
        self.lock.close()

    @contextmanager
    def mutating(self) -> Iterator[list[SegmentRow]]:
        """Hold the store lock, with crash leftovers cleaned up; yield the segments."""
        with self.lock.held():
            yield self._recover()

    def _recover(self) -> list[SegmentRow]:
        """Finish what a crashed writer left: zero pending shreds, remove retired
        segments, cut the active segment back to its indexed end."""
        for location in self.index.get_shredding():
            self._shred(location)
        segments = self.index.get_segments()
        for row in segments:
            if row.retired:
                self.remove_segment(row.id)
        live = [s for s in segments if not s.retired]
        if live:
            truncate_to(get_segment_path(self.root, live[-1].id), live[-1].size, self.fsync)
        return live

    def _remove_orphans(self) -> None:
        """Remove segment files the index never committed (a crashed rollover)."""
        known = {s.id for s in self.index.get_segments()}
        orphans = [p for i, p in list_segment_files(self.root).items() if i not in known]
        for path in orphans:
            remove_file(path, self.fsync)
        if orphans and self.fsync:
            fsync_dir(self.root)

    def remove_segment(self, segment: int) -> None:
        """Remove a retired segment's file, durably, then forget it: its bytes are zeroed
        first (compaction moved its live blobs; a key envelope among them must not stay
        on disk in the freed blocks once a later ``delete`` zeroes its new copy)."""
        remove_file(get_segment_path(self.root, segment), self.fsync)
        if self.fsync:
            fsync_dir(self.root)
        self.index.drop_segment(segment)

    def put(self, data: bytes) -> bytes:
        """Store ``data``; return its SHA-256 address."""
        digest = compute_sha256(data)
        self.put_hashed(digest, data)
        return digest

    def put_hashed(self, digest: bytes, data: bytes) -> None:
        """Store ``data`` under ``digest`` (the caller's fresh SHA-256 of exactly ``data``)."""
        self.put_many_hashed([(digest, data)])

    def put_many_hashed(self, blobs: Sequence[tuple[bytes, bytes]]) -> None:
        """Store each ``(digest, data)`` (the caller's fresh SHA-256 of exactly ``data``),
        all durable on return: appended, one fsync of the data, then one index commit.
        Blobs already stored are left as they are."""
        for digest, _ in blobs:
            validate_digest(digest)
        if not blobs:
            return
        with self.mutating() as segments:
            present = self.index.find_present({d for d, _ in blobs})
            todo = {d: data for d, data in blobs if d not in present}
            if todo:
                plan = SegmentPlan(segments, self.max_segment_size)
                placements = [(d, plan.place(len(data))) for d, data in todo.items()]
                self.write_durably(plan, [(loc, todo[d]) for d, loc in placements])
                self.index.commit_placements(placements, plan.sizes)

    def write_durably(self, plan: SegmentPlan, writes: Iterable[tuple[Location, bytes]]) -> None:
        """Write each blob at its planned location and flush them (before any commit)."""
        writer = SegmentWriter(self.root, plan.new)
        try:
            for location, data in writes:
                writer.write(location, data)
            if self.fsync:
                writer.sync()
        finally:
            writer.close()

    def get(self, digest: bytes) -> bytes:
        """Return the blob after checking its hash."""
        validate_digest(digest)
        for _ in range(_READ_ATTEMPTS):
            location = self.index.find(digest)
            if location is None:
                raise NotFound("no such blob", digest=digest)
            try:
                path = get_segment_path(self.root, location.segment)
                data = read_at(path, location.offset, location.length)
            except FileNotFoundError:
                continue  # compaction removed the segment after moving the blob
            if compute_sha256(data) == digest:
                return data
            if self.index.find(digest) == location:
                break  # not moved, not deleted: the bytes on disk are wrong
        raise StorageCorrupted("blob does not match its address", digest=digest)

    def read_placement(self, placement: Placement) -> bytes:
        """Return a placed blob's verified bytes (for copying; the lock is held)."""
        digest, location = placement
        path = get_segment_path(self.root, location.segment)
        data = read_at(path, location.offset, location.length)
        if compute_sha256(data) != digest:
            raise StorageCorrupted("blob does not match its address", digest=digest)
        return data

    def has(self, digest: bytes) -> bool:
        """Return whether the blob is stored."""
        validate_digest(digest)
        return self.index.find(digest) is not None

    def delete(self, digest: bytes) -> None:
        """Remove a blob if present and overwrite its bytes with zeros (crypto-shredding
        of a key envelope): once this returns, they are gone from disk even after a crash."""
        validate_digest(digest)
        with self.mutating():
            location = self.index.begin_shred(digest)
            if location is not None:
                self._shred(location)

    def _shred(self, location: Location) -> None:
        zero_at(get_segment_path(self.root, location.segment), location, self.fsync)
        self.index.finish_shred(location)

    def iter_digests(self) -> Iterator[bytes]:
        """Yield every stored address (in address order, a page of the index at a time)."""
        after = b""
        while page := self.index.get_digests_after(after, 1000):
            yield from page
            after = page[-1]

    def compact(self, threshold: float = 0.5) -> int:
        """Rewrite the segments more than ``threshold`` dead; return how many
        (``segment_compaction.compact_segments``)."""
        return compact_segments(self, threshold)
