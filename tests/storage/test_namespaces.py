"""Namespaces: one store per kind of blob, segments for new folders, the old layout kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from carchain.errors import NotFound
from carchain.storage.blobstore import FileBlobStore
from carchain.storage.namespaces import is_file_layout, open_namespace
from carchain.storage.segments import SegmentBlobStore


def test_namespaces_are_separate_stores(tmp_path: Path) -> None:
    ciphertexts = open_namespace(tmp_path, "blobs")
    keys = open_namespace(tmp_path, "keys")
    digest = ciphertexts.put(b"looks like an envelope")
    assert ciphertexts.has(digest) and not keys.has(digest)
    with pytest.raises(NotFound):
        keys.get(digest)
    assert list(keys.iter_digests()) == []
    for bad in ("../keys", "a/b", "", "keys/.."):
        with pytest.raises(ValueError):
            open_namespace(tmp_path, bad)


def test_a_new_namespace_is_a_segment_store(tmp_path: Path) -> None:
    store = open_namespace(tmp_path, "blobs")
    assert isinstance(store, SegmentBlobStore)
    digest = store.put(b"x")
    store.close()
    reopened = open_namespace(tmp_path, "blobs")
    assert isinstance(reopened, SegmentBlobStore) and reopened.get(digest) == b"x"


def test_a_namespace_in_the_file_layout_stays_a_file_store(tmp_path: Path) -> None:
    old = FileBlobStore(tmp_path / "blobs")
    digests = [old.put(bytes([i]) * 10) for i in range(5)]
    assert is_file_layout(tmp_path / "blobs")
    store = open_namespace(tmp_path, "blobs")
    assert isinstance(store, FileBlobStore)
    assert [store.get(d) for d in digests] == [bytes([i]) * 10 for i in range(5)]
    new = store.put(b"written after the upgrade")
    assert store.get_path(new).exists()  # same layout, no mixing
    assert not (tmp_path / "blobs" / "index.db").exists()


def test_an_empty_file_store_folder_becomes_a_segment_store(tmp_path: Path) -> None:
    FileBlobStore(tmp_path / "tombstones")  # created, nothing stored: only tmp/
    assert not is_file_layout(tmp_path / "tombstones")
    assert isinstance(open_namespace(tmp_path, "tombstones"), SegmentBlobStore)
