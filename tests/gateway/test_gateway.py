"""Gateway ingest: every bad batch is refused with a typed error and leaves no trace."""

from __future__ import annotations

import time

import msgspec
import pytest

from carchain.core.vehicles import RevokeVehicle
from carchain.crypto.sealing import seal_to
from carchain.data.batches import EPOCH_MS, decode_signed_header, decode_submitted
from carchain.data.custody import (
    compute_key_ref,
    compute_seal_info,
    decode_key_envelope,
    seal_category_key,
)
from carchain.errors import (
    BatchTooLarge,
    CarchainError,
    CiphertextMismatch,
    InvalidBatch,
    InvalidKeyEnvelope,
    InvalidSignature,
    ReplayedBatch,
    TruncatedCiphertext,
    UnregisteredVehicle,
    VehicleRevoked,
    WrongEpoch,
    WrongOem,
)
from carchain.gateway.anchoring import decode_manifest
from tests.conftest import seeded_key
from tests.dataplane import (
    NOW_MS,
    IngestRig,
    World,
    envelopes_of,
    replace_upload,
    resign_header,
    resign_segment,
)


def assert_refused(rig: IngestRig, raw: bytes, error: type[CarchainError], **kw: int) -> None:
    before = rig.stored()
    with pytest.raises(error) as exc:
        rig.process(raw, **kw)
    assert type(exc.value) is error
    assert rig.stored() == before, "a refused batch left a trace"


def test_valid_batch_is_stored_and_journaled(rig: IngestRig) -> None:
    car = rig.car("saic:1")
    up = car.upload()
    header_hash = rig.process(up.body)
    assert header_hash == up.header_hash
    sub = decode_submitted(up.body)
    h = decode_signed_header(sub.header).header
    assert rig.blobs.get(h.ciphertext_hash) == sub.ciphertext
    assert h.categories == ["location", "motion", "time"] and len(sub.key_envelopes) == 3
    for seg in h.segments:
        assert rig.keys.get(seg.key_ref) == envelopes_of(up)[seg.key_ref]
        assert not rig.blobs.has(seg.key_ref)
    row = rig.journal.get_batch_optional(header_hash)
    assert row is not None and row.vehicle_id == "saic:1" and row.anchor_seq is None
    assert [r.header_hash for r in rig.journal.get_unanchored(10)] == [header_hash]


def test_invalid_bad_signature(rig: IngestRig) -> None:
    car = rig.car("saic:1")
    up = car.upload()
    assert_refused(rig, resign_header(up, seeded_key("impostor")), InvalidSignature)
    # A header edited after signing does not verify either.
    sub = decode_submitted(up.body)
    raw = bytearray(sub.header)
    raw[-1] ^= 1
    assert_refused(rig, replace_upload(up, header=bytes(raw)), InvalidSignature)


def test_invalid_unregistered_vehicle(rig: IngestRig) -> None:
    car = rig.car("saic:1")
    up = car.upload()
    del rig.directory.vehicles["saic:1"]
    assert_refused(rig, up.body, UnregisteredVehicle)


def test_invalid_revoked_vehicle(rig: IngestRig) -> None:
    car = rig.car("saic:1", status="revoked")
    assert_refused(rig, car.upload().body, VehicleRevoked)


def test_invalid_vehicle_of_another_oem(rig: IngestRig) -> None:
    car = rig.car("geely:1", oem="geely")
    assert_refused(rig, car.upload().body, WrongOem)


def test_invalid_replayed_batch(rig: IngestRig) -> None:
    car = rig.car("saic:1")
    up = car.upload()
    rig.process(up.body)
    assert_refused(rig, up.body, ReplayedBatch)
    # Same vehicle, epoch and sequence number, different content (a fresh recorder).
    other = car.upload(n=3)
    assert other.seq == up.seq and other.header_hash != up.header_hash
    assert_refused(rig, other.body, ReplayedBatch)


def test_invalid_wrong_epoch(rig: IngestRig) -> None:
    car = rig.car("saic:1")
    old = car.upload(start_ms=NOW_MS - 3 * EPOCH_MS)
    assert_refused(rig, old.body, WrongEpoch)
    future = car.upload(start_ms=NOW_MS + 3_600_000)
    assert_refused(rig, future.body, WrongEpoch)
    up = car.upload()
    h = decode_signed_header(decode_submitted(up.body).header).header
    assert_refused(rig, resign_header(up, car.key, epoch=h.epoch - 1), WrongEpoch)


def test_yesterdays_batch_is_accepted(rig: IngestRig) -> None:
    car = rig.car("saic:1")
    rig.process(car.upload(start_ms=NOW_MS - EPOCH_MS).body)


def test_invalid_oversized(rig: IngestRig) -> None:
    car = rig.car("saic:1")
    big = car.upload(n=1100, max_records=5000)  # over the 1000-record limit
    assert_refused(rig, big.body, BatchTooLarge)
    huge = replace_upload(car.upload(), ciphertext=b"\x00" * (65 * 1024))
    assert_refused(rig, huge, BatchTooLarge)
    up = car.upload()
    h = decode_signed_header(decode_submitted(up.body).header).header
    last = h.segments[-1]
    grown = msgspec.structs.replace(last, ciphertext_size=10**9 - last.offset)
    raw = resign_header(up, car.key, ciphertext_size=10**9, segments=[*h.segments[:-1], grown])
    assert_refused(rig, raw, BatchTooLarge)


def test_invalid_truncated_or_altered_ciphertext(rig: IngestRig) -> None:
    car = rig.car("saic:1")
    up = car.upload()
    ct = decode_submitted(up.body).ciphertext
    assert_refused(rig, replace_upload(up, ciphertext=ct[:-16]), TruncatedCiphertext)
    assert_refused(rig, replace_upload(up, ciphertext=b""), TruncatedCiphertext)
    flipped = bytearray(ct)
    flipped[0] ^= 1
    assert_refused(rig, replace_upload(up, ciphertext=bytes(flipped)), CiphertextMismatch)
    assert_refused(rig, replace_upload(up, ciphertext=ct + b"\x00"), CiphertextMismatch)


def test_invalid_malformed_upload(rig: IngestRig) -> None:
    assert_refused(rig, b"\x00garbage", InvalidBatch)
    car = rig.car("saic:1")
    assert_refused(rig, replace_upload(car.upload(), header=b"\x92\x01\x02"), InvalidBatch)


def test_invalid_key_envelope(rig: IngestRig) -> None:
    car = rig.car("saic:1")
    up = car.upload()
    envs = decode_submitted(up.body).key_envelopes
    assert_refused(rig, replace_upload(up, key_envelopes=[]), InvalidKeyEnvelope)
    assert_refused(rig, replace_upload(up, key_envelopes=envs[1:]), InvalidKeyEnvelope)
    tampered = [envs[0] + b"\x00", *envs[1:]]
    assert_refused(rig, replace_upload(up, key_envelopes=tampered), InvalidKeyEnvelope)
    extra = seal_category_key(
        b"k" * 32, "saic:1", up.epoch, "motion", car.owner.public_key, rig.custodian.public_key
    )
    assert_refused(rig, replace_upload(up, key_envelopes=[*envs, extra]), InvalidKeyEnvelope)
    stranger = seeded_key("stranger").public_key
    for owner, custodian in (
        (stranger, rig.custodian.public_key),
        (car.owner.public_key, stranger),
    ):
        wrong = seal_category_key(b"k" * 32, "saic:1", up.epoch, "motion", owner, custodian)
        forged = resign_segment(up, car.key, "motion", key_ref=compute_key_ref(wrong))
        motion_ref = _segment_ref(up, "motion")
        kept = [e for e in envs if compute_key_ref(e) != motion_ref]
        assert_refused(
            rig, replace_upload_raw(forged, key_envelopes=[*kept, wrong]), InvalidKeyEnvelope
        )
    # An envelope for another category in the motion segment's place.
    loc = envelopes_of(up)[_segment_ref(up, "location")]
    forged = resign_segment(up, car.key, "motion", key_ref=compute_key_ref(loc))
    assert_refused(rig, replace_upload_raw(forged, key_envelopes=envs), InvalidKeyEnvelope)


def _segment_ref(up: object, category: str) -> bytes:
    h = decode_signed_header(decode_submitted(up.body).header).header  # type: ignore[attr-defined]
    return next(s.key_ref for s in h.segments if s.category == category)


def test_invalid_sensitive_key_sealed_to_the_custodian_is_refused(rig: IngestRig) -> None:
    """Item 5: a location key sealed to the OEM custodian never gets in."""
    car = rig.car("saic:1")
    up = car.upload()
    envs = decode_submitted(up.body).key_envelopes
    loc_ref = _segment_ref(up, "location")
    env = decode_key_envelope(envelopes_of(up)[loc_ref])
    assert env.custodian == b"" and env.custodian_box == b""
    key = b"k" * 32
    info = compute_seal_info("saic:1", up.epoch, "location", "custodian")
    leaky = msgspec.msgpack.encode(
        msgspec.structs.replace(
            env,
            custodian=rig.custodian.public_key,
            custodian_box=seal_to(rig.custodian.public_key, key, info),
        )
    )
    forged = resign_segment(up, car.key, "location", key_ref=compute_key_ref(leaky))
    kept = [e for e in envs if compute_key_ref(e) != loc_ref]
    assert_refused(
        rig, replace_upload_raw(forged, key_envelopes=[*kept, leaky]), InvalidKeyEnvelope
    )
    rig.process(up.body)  # the genuine one (owner only) is accepted


def test_invalid_key_ref_of_another_vehicle(rig: IngestRig) -> None:
    alice, mallory = rig.car("saic:1"), rig.car("saic:2")
    first = alice.upload()
    rig.process(first.body)
    alices_ref = _segment_ref(first, "motion")
    up = mallory.upload()
    forged = resign_segment(up, mallory.key, "motion", key_ref=alices_ref)
    others = [
        e
        for e in decode_submitted(up.body).key_envelopes
        if compute_key_ref(e) != _segment_ref(up, "motion")
    ]
    assert_refused(rig, replace_upload_raw(forged, key_envelopes=others), InvalidKeyEnvelope)


def replace_upload_raw(raw: bytes, **changes: object) -> bytes:
    from carchain.data.batches import encode_submitted

    return encode_submitted(msgspec.structs.replace(decode_submitted(raw), **changes))


# --- over HTTP, with a live node: typed errors, and nothing bad ever anchored -------


def now_ms() -> int:
    return int(time.time() * 1000)


def test_gateway_api_accepts_anchors_and_refuses(world: World) -> None:
    car = world.cars["saic:car-1"]
    # Both uploads must fall in one key epoch (UTC day) for good[1] to replay good[0]'s
    # identity: within 10 minutes after midnight, take the previous day's last minutes.
    start = now_ms() - 600_000
    if start // EPOCH_MS != now_ms() // EPOCH_MS:
        start = (now_ms() // EPOCH_MS) * EPOCH_MS - 900_000
    good = [car.upload(n=20, start_ms=start, window_ms=10**9)]
    rec = car.recorder()
    from tests.dataplane import make_records

    for t, r in make_records(30, start + 300_000):
        good += rec.add_at(r, t)
    good += rec.flush()
    # good[0] and good[1] share seq 0: the second is a replay of the identity.
    receipts = [world.gclient.submit(good[0].body)]
    bad = [
        (good[1].body, ReplayedBatch),
        (good[0].body, ReplayedBatch),
        (resign_header(good[0], seeded_key("impostor")), InvalidSignature),
        (car.upload(start_ms=now_ms() - 3 * EPOCH_MS).body, WrongEpoch),
        (replace_upload(good[0], ciphertext=b"\x01" * 40), TruncatedCiphertext),
        (b"\x00" * 100, InvalidBatch),
    ]
    for raw, error in bad:
        with pytest.raises(error):
            world.gclient.submit(raw)
    with pytest.raises(BatchTooLarge):
        world.gclient.submit(b"\x00" * (9 * 1024 * 1024))
    world.wait_anchored()
    status = world.gclient.status()
    assert status["batches"] == status["anchored"] == len(receipts)
    listed = world.gclient.batches("saic:car-1", anchored_only=True)
    assert [b["header_hash"] for b in listed] == [r["header_hash"] for r in receipts]
    # What the chain's anchors commit to is exactly the accepted batches.
    anchored = set()
    for seq in range(1, status["anchors"] + 1):
        anchor = world.gateway.gateway.journal.get_anchor_optional(seq)
        assert anchor is not None and anchor.height > 0
        manifest = decode_manifest(world.gateway.gateway.blobs.get(anchor.body.manifest_hash))
        anchored |= {decode_signed_header(h).header.seq for h in manifest.headers}
    assert len(anchored) == len(receipts)


def test_revocation_stops_ingest(world: World) -> None:
    car = world.register("saic:car-rev")
    world.gclient.submit(car.upload(start_ms=now_ms() - 600_000).body)
    world.send(RevokeVehicle("saic:car-rev", "stolen"))
    later = car.recorder()
    from tests.dataplane import make_records

    ups = []
    for t, r in make_records(5, now_ms() - 60_000):
        ups += later.add_at(r, t)
    ups += later.flush()
    before = world.gclient.status()["batches"]
    with pytest.raises(VehicleRevoked):
        world.gclient.submit(ups[0].body)
    assert world.gclient.status()["batches"] == before


def test_unregistered_and_foreign_vehicles_over_http(world: World) -> None:
    from tests.dataplane import make_car

    ghost = make_car("saic:ghost", world.custodian)
    with pytest.raises(UnregisteredVehicle):
        world.gclient.submit(ghost.upload(start_ms=now_ms() - 600_000).body)
    foreign = world.register("geely:car-1", oem="geely")
    with pytest.raises(WrongOem):
        world.gclient.submit(foreign.upload(start_ms=now_ms() - 600_000).body)


def test_batches_are_queryable_by_vehicle_and_time_range(rig: IngestRig) -> None:
    car, other = rig.car("saic:1"), rig.car("saic:2")
    rec = car.recorder(window_ms=60_000)
    from tests.dataplane import make_records

    ups = []
    for t, r in make_records(180, NOW_MS - 3_600_000):  # three 1-minute batches
        ups += rec.add_at(r, t)
    ups += rec.flush()
    for up in ups:
        rig.process(up.body)
    rig.process(other.upload().body)
    start = NOW_MS - 3_600_000

    def found(lo: int, hi: int) -> list[int]:
        return [b.seq for b in rig.journal.find_batches("saic:1", lo, hi, 100)]

    assert found(0, 2**62) == [0, 1, 2]
    assert found(start + 60_000, start + 60_500) == [1]
    assert found(start + 59_000, start + 61_000) == [0, 1]
    assert found(start + 200_000, 2**62) == []
    assert [b.vehicle_id for b in rig.journal.find_batches("saic:2", 0, 2**62, 100)] == ["saic:2"]
