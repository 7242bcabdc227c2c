"""The blob store backends the behavioural contract tests run against (one fixture each way).

``blob_backend`` is parametrised over the filesystem store, the segment store and
the S3 store on the session's SeaweedFS (``objectstore`` in tests/conftest.py);
each backend opens stores by name (the same name reopens the same store) and can
corrupt a stored blob behind the store's back, as a disk or a bucket might.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from carchain.storage.blobstore import FileBlobStore
from carchain.storage.ports import BlobStore
from carchain.storage.s3_blobs import S3BlobStore
from carchain.storage.segment_files import get_segment_path
from carchain.storage.segments import SegmentBlobStore
from tests.objectstore import ObjectStore


class Backend(Protocol):
    """Opens blob stores of one kind and damages their blobs."""

    name: str

    def open(self, name: str) -> BlobStore: ...

    def corrupt(self, store: BlobStore, digest: bytes, data: bytes) -> None: ...


class FileBackend:
    name = "file"

    def __init__(self, root: Path) -> None:
        self.root = root

    def open(self, name: str) -> BlobStore:
        return FileBlobStore(self.root / name, fsync=False)

    def corrupt(self, store: BlobStore, digest: bytes, data: bytes) -> None:
        assert isinstance(store, FileBlobStore)
        store.get_path(digest).write_bytes(data)


class SegmentBackend(FileBackend):
    name = "segments"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.opened: list[SegmentBlobStore] = []

    def open(self, name: str) -> BlobStore:
        store = SegmentBlobStore(self.root / name, fsync=False)
        self.opened.append(store)
        return store

    def corrupt(self, store: BlobStore, digest: bytes, data: bytes) -> None:
        """Overwrite the blob's bytes in its segment file (``data`` is as long)."""
        assert isinstance(store, SegmentBlobStore)
        location = store.index.find(digest)
        assert location is not None and location.length == len(data)
        path = get_segment_path(store.root, location.segment)
        raw = bytearray(path.read_bytes())
        raw[location.offset : location.offset + len(data)] = data
        path.write_bytes(bytes(raw))


class S3Backend:
    name = "s3"

    def __init__(self, objectstore: ObjectStore) -> None:
        self.objectstore = objectstore
        self.run = uuid.uuid4().hex[:12]  # tests share the session's bucket
        self.opened: list[S3BlobStore] = []

    def open(self, name: str) -> BlobStore:
        location = self.objectstore.make_location(f"{self.run}")
        store = S3BlobStore(location, name)
        self.opened.append(store)
        return store

    def corrupt(self, store: BlobStore, digest: bytes, data: bytes) -> None:
        assert isinstance(store, S3BlobStore)
        store.client.put_object(Bucket=store.location.bucket, Key=store.get_key(digest), Body=data)


BACKENDS = ["file", "segments", pytest.param("s3", marks=pytest.mark.objectstore)]
_counter = itertools.count()


@pytest.fixture(params=BACKENDS)
def blob_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each blob store implementation in turn."""
    backend: FileBackend | S3Backend
    if request.param == "file":
        backend = FileBackend(tmp_path)
    elif request.param == "segments":
        backend = SegmentBackend(tmp_path)
    else:
        backend = S3Backend(request.getfixturevalue("objectstore"))
    try:
        yield backend
    finally:
        for store in getattr(backend, "opened", []):
            store.close()


def next_name() -> str:
    """Return a fresh store name (for tests that open many stores in one backend)."""
    return f"n{next(_counter)}"
