"""Group uploads (``POST /batches/group``, ``Ingestor.process_batches_at``): each batch
checked as a single upload is, the accepted ones stored together, each refused one with
its own typed error and no trace, replays caught within the group and against what was
stored before, and the blob store's group write durable (never visible half-written)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from carchain.data.batches import decode_signed_header, decode_submitted
from carchain.errors import (
    BatchTooLarge,
    CarchainError,
    InvalidBatch,
    InvalidKeyEnvelope,
    InvalidSignature,
    ReplayedBatch,
)
from carchain.gateway.ingest import Receipt
from carchain.sdk.vehicle import Upload
from carchain.storage import blobstore
from carchain.storage.blobstore import FileBlobStore
from tests.conftest import seeded_key
from tests.dataplane import (
    NOW_MS,
    Car,
    IngestRig,
    World,
    make_records,
    replace_upload,
    resign_header,
)


def drive(car: Car, n: int = 12, start_ms: int = NOW_MS - 600_000) -> list[Upload]:
    """Return a car's uploads of ``n`` records a second apart, one batch per 3 seconds."""
    rec = car.recorder(window_ms=3_000)
    ups: list[Upload] = []
    for t, r in make_records(n, start_ms):
        ups += rec.add_at(r, t)
    return ups + rec.flush()


def kinds(outcomes: list[Receipt | CarchainError]) -> list[type]:
    return [type(o) for o in outcomes]


def test_a_group_stores_every_batch_in_order(rig: IngestRig) -> None:
    ups = drive(rig.car("saic:1"))
    assert len(ups) >= 4
    outcomes = rig.ingestor.process_batches_at([u.body for u in ups], NOW_MS)
    assert kinds(outcomes) == [Receipt] * len(ups)
    assert [o.header_hash for o in outcomes if isinstance(o, Receipt)] == [
        u.header_hash for u in ups
    ]
    received = [o.received for o in outcomes if isinstance(o, Receipt)]
    assert received == sorted(received) and len(set(received)) == len(ups)
    for u in ups:
        sub = decode_submitted(u.body)
        assert rig.blobs.get(decode_signed_header(sub.header).header.ciphertext_hash)
        assert rig.journal.get_batch_optional(u.header_hash) is not None
    assert rig.journal.count_batches()[0] == len(ups)


def test_invalid_items_are_refused_alone_and_leave_no_trace(rig: IngestRig) -> None:
    ups = drive(rig.car("saic:1"))
    forged = resign_header(ups[1], seeded_key("impostor"), record_count=99)
    group = [ups[0].body, forged, ups[2].body, b"\x00" * 100, ups[0].body, ups[3].body]
    outcomes = rig.ingestor.process_batches_at(group, NOW_MS)
    assert kinds(outcomes) == [
        Receipt, InvalidSignature, Receipt, InvalidBatch, ReplayedBatch, Receipt,
    ]  # fmt: skip
    kept = {u.header_hash for u in (ups[0], ups[2], ups[3])}
    assert {r.header_hash for r in rig.journal.get_unanchored(100)} == kept
    assert rig.journal.get_batch_optional(ups[1].header_hash) is None


def test_invalid_a_replay_of_an_earlier_upload_is_refused_in_a_group(rig: IngestRig) -> None:
    ups = drive(rig.car("saic:1"))
    rig.process(ups[0].body)
    other = drive(rig.car("saic:1"), n=3)  # a fresh recorder: seq 0 again, other content
    assert other[0].header_hash != ups[0].header_hash
    outcomes = rig.ingestor.process_batches_at([ups[0].body, other[0].body, ups[1].body], NOW_MS)
    assert kinds(outcomes) == [ReplayedBatch, ReplayedBatch, Receipt]
    assert rig.journal.count_batches()[0] == 2


def test_invalid_a_group_past_its_limit_stores_nothing(rig: IngestRig) -> None:
    ups = drive(rig.car("saic:1"))
    limit = rig.ingestor.limits.max_group_batches
    before = rig.stored()
    with pytest.raises(BatchTooLarge):
        rig.ingestor.process_batches_at([ups[0].body] * (limit + 1), NOW_MS)
    assert rig.stored() == before


def test_a_key_sealed_earlier_in_the_group_serves_the_later_batches(rig: IngestRig) -> None:
    ups = drive(rig.car("saic:1"))
    bare = replace_upload(ups[1], key_envelopes=[])  # relies on ups[0]'s envelopes
    outcomes = rig.ingestor.process_batches_at([ups[0].body, bare], NOW_MS)
    assert kinds(outcomes) == [Receipt, Receipt]


def test_invalid_a_batch_without_its_key_is_refused_when_nothing_sealed_it(
    rig: IngestRig,
) -> None:
    ups = drive(rig.car("saic:1"))
    bare = replace_upload(ups[1], key_envelopes=[])
    outcomes = rig.ingestor.process_batches_at([bare, ups[2].body], NOW_MS)
    assert kinds(outcomes) == [InvalidKeyEnvelope, Receipt]
    assert rig.journal.get_batch_optional(ups[1].header_hash) is None


def test_group_upload_over_http(world: World) -> None:
    car = world.cars["saic:car-1"]
    ups = drive(car, n=9, start_ms=int(time.time() * 1000) - 120_000)
    results = world.gclient.submit_group([ups[0].body, b"\x00" * 50, *[u.body for u in ups[1:]]])
    assert [r.get("header_hash") for r in results] == [
        ups[0].header_hash.hex(), None, *[u.header_hash.hex() for u in ups[1:]],
    ]  # fmt: skip
    assert results[1]["error"]["code"] == "invalid_batch"
    again = world.gclient.submit_group([ups[0].body])
    assert again[0]["error"]["code"] == "replayed_batch"
    world.wait_anchored()
    listed = world.gclient.batches("saic:car-1", anchored_only=True)
    assert {u.header_hash.hex() for u in ups} <= {b["header_hash"] for b in listed}


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"\x00" * 10, 400), (msgspec.msgpack.encode([]), 400), (msgspec.msgpack.encode([1]), 400)],
)
def test_invalid_group_bodies_are_refused(world: World, body: bytes, status: int) -> None:
    resp = httpx.post(world.gateway.url + "/batches/group", content=body)
    assert resp.status_code == status
    assert resp.json()["error"]["code"] == "invalid_batch"


def test_invalid_a_group_past_the_byte_limit_is_413(world: World) -> None:
    ingestor = world.gateway.gateway.ingestor
    limits = ingestor.limits
    ingestor.limits = dataclasses.replace(limits, max_group_bytes=1_000)
    try:
        body = msgspec.msgpack.encode([b"\x00" * 600, b"\x00" * 600])
        resp = httpx.post(world.gateway.url + "/batches/group", content=body)
    finally:
        ingestor.limits = limits
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "batch_too_large"


def test_blob_group_without_a_file_system_flush_fsyncs_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blobstore, "can_sync_filesystem", lambda: False)
    monkeypatch.setattr(blobstore, "sync_filesystem", lambda path: pytest.fail("flushed"))
    store = FileBlobStore(tmp_path / "blobs")
    blobs = [(blobstore.compute_sha256(d), d) for d in (b"a", b"b", b"c")]
    store.put_many_hashed(blobs)
    assert [store.get(h) for h, _ in blobs] == [b"a", b"b", b"c"]


def test_invalid_a_failed_flush_leaves_no_blob_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blobstore, "can_sync_filesystem", lambda: True)
    monkeypatch.setattr(blobstore, "sync_filesystem", lambda path: False)  # the flush fails
    store = FileBlobStore(tmp_path / "blobs")
    blobs = [(blobstore.compute_sha256(d), d) for d in (b"a", b"b")]
    with pytest.raises(OSError):
        store.put_many_hashed(blobs)
    assert not any(store.has(h) for h, _ in blobs)
    assert list(store.iter_digests()) == []


def test_blob_group_skips_stored_and_repeated_blobs(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    a = (blobstore.compute_sha256(b"a"), b"a")
    store.put_hashed(*a)
    b = (blobstore.compute_sha256(b"b"), b"b")
    store.put_many_hashed([a, b, b])
    assert sorted(store.iter_digests()) == sorted([a[0], b[0]])
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_invalid_a_key_only_a_refused_batch_carried_serves_no_later_batch(
    rig: IngestRig,
) -> None:
    ups = drive(rig.car("saic:1"))
    rig.process(ups[0].body)
    other = drive(rig.car("saic:1"))  # a fresh recorder: new keys; its seq 0 is a replay
    bare = replace_upload(other[1], key_envelopes=[])  # relies on other[0]'s new keys
    outcomes = rig.ingestor.process_batches_at([other[0].body, bare], NOW_MS)
    assert kinds(outcomes) == [ReplayedBatch, InvalidKeyEnvelope]
    assert rig.journal.count_batches()[0] == 1


def test_a_blob_group_flushes_the_file_system_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not blobstore.can_sync_filesystem():
        pytest.skip("no syncfs on this platform: the per-file path is tested above")
    calls: list[Path] = []
    real = blobstore.sync_filesystem
    monkeypatch.setattr(blobstore, "sync_filesystem", lambda p: calls.append(p) or real(p))
    store = FileBlobStore(tmp_path / "blobs")
    blobs = [(blobstore.compute_sha256(bytes([i])), bytes([i])) for i in range(40)]
    store.put_many_hashed(blobs)
    assert len(calls) == 2
    assert [store.get(h) for h, _ in blobs] == [d for _, d in blobs]
