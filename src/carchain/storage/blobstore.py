"""Content-addressed storage of opaque blobs (encrypted batches, key envelopes, manifests).

A blob's address is the SHA-256 of its bytes. ``BlobStore`` (``storage/ports.py``) is the interface;
``FileBlobStore`` is the filesystem default: ``<root>/ab/<hex>``, written
atomically (temporary file, fsync, rename, fsync of the folder), so a blob is
either absent or complete. Every read re-hashes and raises ``StorageCorrupted``
on a mismatch. Folders are 0700 and files 0600: even sealed blobs are metadata
(sizes, times, which car uploaded what).

Blobs of different kinds live in separate stores (namespaces), each its own
root: a reference that must name a key envelope is looked up only among
envelopes, so a ciphertext crafted to decode as an envelope is never taken for
one (``storage.namespaces.open_namespace``, which also picks the layout: new
namespaces are ``segments.SegmentBlobStore``s, without a file per blob). The
object-store backend (``s3_blobs.S3BlobStore``: SeaweedFS, MinIO, Ceph, a cloud
bucket) implements the same methods: addresses are plain hex names and nothing
relies on a filesystem.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from carchain.crypto.hashing import compute_sha256
from carchain.errors import NotFound, StorageCorrupted
from carchain.storage.filesync import can_sync_filesystem, sync_filesystem
from carchain.storage.ports import BlobStore as BlobStore

DIGEST_SIZE = 32
DIR_MODE = 0o700
FILE_MODE = 0o600


def validate_digest(digest: bytes) -> str:
    """Return the hex name of a blob address; raise ``ValueError`` unless it is 32 bytes."""
    if len(digest) != DIGEST_SIZE:
        raise ValueError("a blob address is a 32-byte SHA-256")
    return digest.hex()


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as 0700, and tighten it if it exists."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)


class FileBlobStore:
    """Blobs as files in sharded folders under ``root``."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        self._tmp = root / "tmp"
        make_private_dir(root)
        make_private_dir(self._tmp)
        for shard in root.glob("[0-9a-f][0-9a-f]"):  # folders of an older, laxer version
            os.chmod(shard, DIR_MODE)
        # Leftovers of writes interrupted by a crash are never visible as blobs.
        for stale in self._tmp.iterdir():
            with contextlib.suppress(OSError):
                stale.unlink()

    def get_path(self, digest: bytes) -> Path:
        """Return where the blob with ``digest`` lives."""
        name = validate_digest(digest)
        # One level of 256 shards: few folder creations (each costs fsyncs) and
        # still only ~4k files per folder per million blobs.
        return self.root / name[:2] / name

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
        all durable on return. Blobs already stored are left as they are.

        One blob: written to a temporary file, fsynced, renamed into its folder, the
        folder fsynced. Several: all written to temporary files, the file system
        flushed once (``filesync.sync_filesystem``), all renamed, flushed once more;
        so a blob is never visible at its address before its bytes are durable, and
        the group costs two flushes instead of two per blob. Where the file system
        cannot be flushed at once, each file and folder is fsynced."""
        todo: dict[Path, bytes] = {}
        for digest, data in blobs:
            path = self.get_path(digest)
            if path not in todo and not path.exists():
                todo[path] = data
        if len(todo) > 1 and self.fsync and can_sync_filesystem():
            self._put_group(todo)
            return
        folders: set[Path] = set()
        new_folders = self._make_folders(todo)
        for path, data in todo.items():
            self._write_file(path, data, self.fsync)
            os.replace(self._get_tmp(path), path)
            folders.add(path.parent)
        if self.fsync:
            for folder in sorted(folders):
                self._fsync_dir(folder)
            if new_folders:
                self._fsync_dir(self.root)

    def _put_group(self, todo: dict[Path, bytes]) -> None:
        """Write ``todo``'s files, flush, rename them into place, flush again."""
        self._make_folders(todo)
        for path, data in todo.items():
            self._write_file(path, data, False)
        if not sync_filesystem(self.root):
            raise OSError("the blob store's file system could not be flushed")
        for path in todo:
            os.replace(self._get_tmp(path), path)
        if not sync_filesystem(self.root):
            raise OSError("the blob store's file system could not be flushed")

    def _make_folders(self, todo: dict[Path, bytes]) -> set[Path]:
        """Create the missing shard folders of ``todo``; return those created."""
        created = set()
        for path in todo:
            if path.parent not in created and not path.parent.exists():
                make_private_dir(path.parent)
                created.add(path.parent)
        return created

    def _get_tmp(self, path: Path) -> Path:
        """Return where ``path`` is written before it is renamed into place."""
        return self._tmp / f"{path.name}.{os.getpid()}.tmp"

    def _write_file(self, path: Path, data: bytes, fsync: bool) -> None:
        """Write ``data`` to ``path``'s temporary file (fsynced if ``fsync``)."""
        fd = os.open(self._get_tmp(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    @staticmethod
    def _fsync_dir(folder: Path) -> None:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def get(self, digest: bytes) -> bytes:
        """Return the blob after checking its hash."""
        path = self.get_path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound("no such blob", digest=digest) from None
        if compute_sha256(data) != digest:
            raise StorageCorrupted("blob does not match its address", digest=digest)
        return data

    def has(self, digest: bytes) -> bool:
        """Return whether the blob is stored."""
        return self.get_path(digest).exists()

    def delete(self, digest: bytes) -> None:
        """Remove a blob if present, durably (crypto-shredding of a key envelope, failed
        ingest clean-up): once this returns, the blob is gone even after a crash."""
        path = self.get_path(digest)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        if self.fsync:
            self._fsync_dir(path.parent)

    def iter_digests(self) -> Iterator[bytes]:
        """Yield every stored address."""
        for shard in sorted(self.root.glob("[0-9a-f][0-9a-f]")):
            for f in shard.iterdir():
                if len(f.name) == 2 * DIGEST_SIZE:
                    yield bytes.fromhex(f.name)

    def close(self) -> None:
        """Nothing to release (every call opens and closes its own files)."""
