"""The files of a segment blob store: append-only segments, positional I/O, the store lock.

A segment is a plain file of concatenated blobs, ``<root>/<id>.seg`` (0600); where
each blob starts and ends is known only to the index (``segment_index``). All I/O is
positional (``pread``/``pwrite``), so readers never share a file offset with writers.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from carchain.storage.blobstore import FILE_MODE

SEGMENT_SUFFIX = ".seg"
_ZEROS = bytes(1 << 20)


@dataclass(frozen=True, slots=True)
class Location:
    """Where a blob's bytes are: ``length`` bytes at ``offset`` of segment ``segment``."""

    segment: int
    offset: int
    length: int


def get_segment_path(root: Path, segment: int) -> Path:
    """Return the path of segment ``segment`` under ``root``."""
    return root / f"{segment:010d}{SEGMENT_SUFFIX}"


def list_segment_files(root: Path) -> dict[int, Path]:
    """Return the segment files under ``root`` by id."""
    found = {}
    for path in root.glob(f"*{SEGMENT_SUFFIX}"):
        if path.stem.isdigit():
            found[int(path.stem)] = path
    return found


def read_at(path: Path, offset: int, length: int) -> bytes:
    """Return up to ``length`` bytes at ``offset`` of ``path`` (``FileNotFoundError`` if gone)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


def write_at(fd: int, offset: int, data: bytes | memoryview) -> None:
    """Write all of ``data`` at ``offset`` of ``fd``."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def zero_at(path: Path, location: Location, fsync: bool) -> None:
    """Overwrite ``location``'s bytes in ``path`` with zeros, durably if ``fsync``."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return  # the segment is gone, and its bytes with it
    try:
        end = min(location.offset + location.length, os.fstat(fd).st_size)
        offset = location.offset
        while offset < end:
            offset += os.pwrite(fd, memoryview(_ZEROS)[: min(len(_ZEROS), end - offset)], offset)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def zero_from(path: Path, start: int, fsync: bool) -> int:
    """Overwrite ``path``'s bytes from ``start`` to its end with zeros, durably if
    ``fsync``; return the file's size (0 if there is no file). Freeing blocks (a
    truncation, an unlink) does not erase them: what may hold a key is zeroed first."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        offset = start
        while offset < size:
            offset += os.pwrite(fd, memoryview(_ZEROS)[: min(len(_ZEROS), size - offset)], offset)
        if fsync and start < size:
            os.fsync(fd)
        return size
    finally:
        os.close(fd)


def truncate_to(path: Path, size: int, fsync: bool) -> None:
    """Cut ``path`` back to ``size`` bytes if it is longer (the tail of a crashed write),
    its bytes past ``size`` zeroed first."""
    if zero_from(path, size, fsync) <= size:
        return  # never written, or nothing past ``size``
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def remove_file(path: Path, fsync: bool) -> None:
    """Zero a segment file's bytes, then unlink it (the caller flushes the folder)."""
    zero_from(path, 0, fsync)
    path.unlink(missing_ok=True)


def fsync_dir(folder: Path) -> None:
    """Make ``folder``'s entries (new or removed files) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentWriter:
    """Writes blobs at planned locations; ``sync`` makes them durable, ``close`` ends."""

    def __init__(self, root: Path, new_segments: set[int]) -> None:
        self.root = root
        self._new = new_segments
        self._fds: dict[int, int] = {}

    def write(self, location: Location, data: bytes | memoryview) -> None:
        """Write ``data`` at ``location`` (creating a new segment on first use)."""
        write_at(self._get_fd(location.segment), location.offset, data)

    def _get_fd(self, segment: int) -> int:
        fd = self._fds.get(segment)
        if fd is None:
            path = get_segment_path(self.root, segment)
            if segment in self._new:  # a file left by a crashed rollover holds nothing live
                zero_from(path, 0, fsync=True)  # but maybe keys: zeroed before freed
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            else:
                fd = os.open(path, os.O_RDWR)
            self._fds[segment] = fd
        return fd

    def sync(self) -> None:
        """Flush every written segment, and the folder if a segment was created."""
        for fd in self._fds.values():
            os.fsync(fd)
        if self._new & self._fds.keys():
            fsync_dir(self.root)

    def close(self) -> None:
        """Close the segment files."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


class StoreLock:
    """One writer at a time across threads, store instances and processes: a thread
    lock, then ``flock`` on ``<root>/lock`` (held only while a mutation runs, so a
    second process, e.g. a reader opening the store, waits instead of failing)."""

    def __init__(self, path: Path) -> None:
        self._thread_lock = threading.Lock()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the block."""
        with self._thread_lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Release the lock file."""
        with self._thread_lock:
            os.close(self._fd)
