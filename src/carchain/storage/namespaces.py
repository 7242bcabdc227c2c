"""One blob store per kind of blob (namespace), in the layout the folder already has.

A reference that must name a key envelope is looked up only among envelopes, so a
ciphertext crafted to decode as an envelope is never taken for one: each kind
(``blobs``, ``keys``, ``releases``, ``tombstones``) has its own root.

New namespaces are segment stores (``segments.SegmentBlobStore``). A namespace
that already holds blobs in the older file-per-blob layout (two-hex-digit shard
folders, no segment index) stays a ``FileBlobStore``: it keeps working unchanged
and is not migrated (a migration would rewrite every blob of a running gateway
for no gain in safety; its new data simply keeps the old layout).

With an ``S3Location`` every namespace is an ``S3BlobStore`` instead, its objects
under ``<prefix>/<namespace>/`` in the bucket (boto3 is imported only then).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from carchain.storage.blobstore import FileBlobStore
from carchain.storage.s3_location import S3Location
from carchain.storage.segments import INDEX_NAME, SegmentBlobStore

if TYPE_CHECKING:
    from carchain.storage.s3_blobs import S3BlobStore


def is_file_layout(root: Path) -> bool:
    """Return whether ``root`` holds blobs in ``FileBlobStore``'s file-per-blob layout."""
    if (root / INDEX_NAME).exists() or not root.is_dir():
        return False
    return any(p.is_dir() for p in root.glob("[0-9a-f][0-9a-f]"))


def open_namespace(
    root: Path, namespace: str, *, fsync: bool = True, s3: S3Location | None = None
) -> FileBlobStore | SegmentBlobStore | S3BlobStore:
    """Return the blob store of one namespace (``blobs``, ``keys``...): with ``s3``, its
    objects in that bucket; else under ``root``, a segment store, or a ``FileBlobStore``
    where the old layout is already there."""
    if not namespace.isidentifier():
        raise ValueError("a blob namespace is a plain name")
    if s3 is not None:
        from carchain.storage.s3_blobs import S3BlobStore

        return S3BlobStore(s3, namespace)
    path = root / namespace
    if is_file_layout(path):
        return FileBlobStore(path, fsync=fsync)
    return SegmentBlobStore(path, fsync=fsync)
