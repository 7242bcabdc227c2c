"""What every blob store promises (``storage/ports.py``'s ``BlobStore``), run against each
implementation: the filesystem store, the segment store and the S3 store on SeaweedFS."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carchain.errors import NotFound, StorageCorrupted
from tests.storage.conftest import Backend, next_name


def test_put_get_has_round_trip(blob_backend: Backend) -> None:
    store = blob_backend.open("blobs")
    digest = store.put(b"ciphertext")
    assert digest == hashlib.sha256(b"ciphertext").digest()
    assert store.has(digest) and store.get(digest) == b"ciphertext"
    assert store.put(b"ciphertext") == digest  # idempotent
    assert list(store.iter_digests()) == [digest]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.binary(max_size=2000), max_size=12))
def test_every_blob_reads_back(blob_backend: Backend, blobs: list[bytes]) -> None:
    store = blob_backend.open(next_name())
    digests = [store.put(b) for b in blobs]
    assert [store.get(d) for d in digests] == blobs
    assert set(store.iter_digests()) == set(digests)


def test_a_group_is_durable_on_return_and_reopens(blob_backend: Backend) -> None:
    store = blob_backend.open("group")
    blobs = [bytes([i]) * (100 + i) for i in range(30)]
    group = [(hashlib.sha256(b).digest(), b) for b in blobs]
    store.put_many_hashed(group + group[:3])  # repeated inside the group
    store.put_many_hashed(group[5:9])  # already stored
    reopened = blob_backend.open("group")
    assert sorted(reopened.iter_digests()) == sorted(d for d, _ in group)
    assert [reopened.get(d) for d, _ in group] == blobs


def test_invalid_corrupted_blob_is_detected_on_read(blob_backend: Backend) -> None:
    store = blob_backend.open("blobs")
    digest = store.put(b"original")
    blob_backend.corrupt(store, digest, b"tampered")
    with pytest.raises(StorageCorrupted) as caught:
        store.get(digest)
    assert caught.value.fields["digest"] == digest


def test_invalid_missing_blob_and_bad_address(blob_backend: Backend) -> None:
    store = blob_backend.open("blobs")
    with pytest.raises(NotFound):
        store.get(b"\x00" * 32)
    assert not store.has(b"\x00" * 32)
    for bad in (b"short", b"\x00" * 33, b""):
        with pytest.raises(ValueError):
            store.get(bad)
        with pytest.raises(ValueError):
            store.put_hashed(bad, b"x")


def test_namespaces_are_apart(blob_backend: Backend) -> None:
    """A blob stored in one namespace is not found in another (key envelopes vs blobs)."""
    blobs, keys = blob_backend.open("blobs"), blob_backend.open("keys")
    digest = blobs.put(b"looks like an envelope")
    assert not keys.has(digest)
    with pytest.raises(NotFound):
        keys.get(digest)
    assert list(keys.iter_digests()) == []


def test_delete_removes_a_blob_for_good(blob_backend: Backend) -> None:
    """Crypto-shredding: once ``delete`` returns, the blob is gone, also after a reopen."""
    store = blob_backend.open("keys")
    keep, gone = store.put(b"keep"), store.put(b"envelope")
    store.delete(gone)
    assert not store.has(gone) and store.has(keep)
    with pytest.raises(NotFound):
        store.get(gone)
    reopened = blob_backend.open("keys")
    assert not reopened.has(gone) and reopened.get(keep) == b"keep"
    assert list(reopened.iter_digests()) == [keep]
    reopened.delete(gone)  # deleting what is not there is a no-op
    with pytest.raises(ValueError):
        reopened.delete(b"short")
