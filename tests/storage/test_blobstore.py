"""The content-addressed file blob store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.errors import NotFound, StorageCorrupted
from carchain.storage.blobstore import BlobStore, FileBlobStore


def test_put_get_has_round_trip(tmp_path: Path) -> None:
    store: BlobStore = FileBlobStore(tmp_path)
    digest = store.put(b"ciphertext")
    assert digest == hashlib.sha256(b"ciphertext").digest()
    assert store.has(digest) and store.get(digest) == b"ciphertext"
    assert store.put(b"ciphertext") == digest  # idempotent
    assert list(store.iter_digests()) == [digest]


@settings(max_examples=25)
@given(st.lists(st.binary(max_size=2000), max_size=20))
def test_every_blob_reads_back(
    tmp_path_factory: pytest.TempPathFactory, blobs: list[bytes]
) -> None:
    store = FileBlobStore(tmp_path_factory.mktemp("blobs"), fsync=False)
    digests = [store.put(b) for b in blobs]
    assert [store.get(d) for d in digests] == blobs
    assert set(store.iter_digests()) == set(digests)


def test_sharded_layout_and_private_files(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    digest = store.put(b"x")
    path = store.get_path(digest)
    assert path == tmp_path / digest.hex()[:2] / digest.hex()
    assert path.stat().st_mode & 0o777 == 0o600


def test_invalid_corrupted_blob_is_detected_on_read(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    digest = store.put(b"original")
    store.get_path(digest).write_bytes(b"tampered")
    with pytest.raises(StorageCorrupted):
        store.get(digest)


def test_invalid_missing_blob_and_bad_address(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    with pytest.raises(NotFound):
        store.get(b"\x00" * 32)
    with pytest.raises(ValueError):
        store.get(b"short")


def test_interrupted_writes_leave_no_blob(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    (tmp_path / "tmp" / "deadbeef.123.tmp").write_bytes(b"half a blob")
    reopened = FileBlobStore(tmp_path)
    assert list(reopened.iter_digests()) == []
    assert list((tmp_path / "tmp").iterdir()) == []
    digest = store.put(b"y")
    store.delete(digest)
    assert not store.has(digest)


def test_opening_tightens_folders_of_an_older_store(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "s")
    digest = store.put(b"x")
    shard = store.get_path(digest).parent
    for folder in (tmp_path / "s", shard):
        folder.chmod(0o755)
    FileBlobStore(tmp_path / "s")
    assert (tmp_path / "s").stat().st_mode & 0o777 == 0o700
    assert shard.stat().st_mode & 0o777 == 0o700


def test_delete_removes_a_blob_for_good(tmp_path: Path) -> None:
    """Crypto-shredding: once ``delete`` returns, the blob is gone, also after a reopen."""
    store = FileBlobStore(tmp_path / "keys")
    keep, gone = store.put(b"keep"), store.put(b"envelope")
    store.delete(gone)
    assert not store.has(gone) and store.has(keep)
    with pytest.raises(NotFound):
        store.get(gone)
    reopened = FileBlobStore(tmp_path / "keys")
    assert not reopened.has(gone) and reopened.get(keep) == b"keep"
    assert list(reopened.iter_digests()) == [keep]
    reopened.delete(gone)  # deleting what is not there is a no-op
    with pytest.raises(ValueError):
        reopened.delete(b"short")
