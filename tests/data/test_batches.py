"""Batches: Merkle root, sealing, signing, opening; epoch key custody (HPKE)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.crypto import aead
from carchain.crypto.kdf import compute_batch_key
from carchain.crypto.merkle import compute_merkle_root
from carchain.crypto.sealing import open_sealed_box, seal_to
from carchain.data.batches import (
    EPOCH_MS,
    BatchHeader,
    SignedBatchHeader,
    compute_epoch,
    compute_header_signing_bytes,
    compute_records_root,
    decode_signed_header,
    decode_submitted,
    open_batch,
    seal_batch,
    verify_header_signature,
)
from carchain.data.custody import (
    compute_key_ref,
    compute_seal_info,
    decode_envelope,
    open_epoch_key,
    seal_epoch_key,
)
from carchain.data.records import decode_record
from carchain.errors import (
    CiphertextMismatch,
    DecryptionFailed,
    InvalidBatch,
    InvalidBody,
    InvalidSignature,
    TruncatedCiphertext,
    WrongEpoch,
)
from tests.conftest import seeded_key
from tests.dataplane import NOW_MS, make_car

EPOCH_KEY = b"e" * 32
VEHICLE = seeded_key("vehicle/v1")


def seal(records: list[bytes], **kw: object) -> tuple[SignedBatchHeader, bytes]:
    args: dict[str, object] = {
        "key": VEHICLE,
        "vehicle_id": "v1",
        "epoch": compute_epoch(NOW_MS),
        "seq": 0,
        "start_ms": NOW_MS,
        "end_ms": NOW_MS + 1000,
        "categories": ["motion"],
        "epoch_key": EPOCH_KEY,
        "key_ref": b"r" * 32,
    }
    args.update(kw)
    sealed = seal_batch(records, **args)  # type: ignore[arg-type]
    return decode_signed_header(sealed.header), sealed.ciphertext


@given(st.lists(st.binary(max_size=40), max_size=300))
def test_records_root_is_the_rfc6962_root(leaves: list[bytes]) -> None:
    assert compute_records_root(leaves) == compute_merkle_root(leaves)


@settings(max_examples=30)
@given(st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=50))
def test_sealed_batch_opens_to_its_records(records: list[bytes]) -> None:
    signed, ct = seal(records)
    assert signed.header.record_count == len(records)
    assert signed.header.records_root == compute_merkle_root(records)
    verify_header_signature(signed, VEHICLE.public_key)
    assert open_batch(signed, ct, EPOCH_KEY) == records


def test_no_plaintext_in_the_ciphertext_or_header() -> None:
    secret = b"LSVAB4BG7KN012345 driver=Zhang Wei"
    signed, ct = seal([secret] * 5)
    assert secret not in ct
    assert secret not in msgspec.msgpack.encode(signed)


def test_batch_keys_differ_by_vehicle_epoch_and_seq() -> None:
    keys = {
        compute_batch_key(EPOCH_KEY, "v1", 1, 0),
        compute_batch_key(EPOCH_KEY, "v1", 1, 1),
        compute_batch_key(EPOCH_KEY, "v1", 2, 0),
        compute_batch_key(EPOCH_KEY, "v2", 1, 0),
        compute_batch_key(b"f" * 32, "v1", 1, 0),
    }
    assert len(keys) == 5


def test_invalid_tampered_ciphertext_is_refused() -> None:
    signed, ct = seal([b"a", b"b"])
    bad = bytearray(ct)
    bad[20] ^= 1
    with pytest.raises(CiphertextMismatch):
        open_batch(signed, bytes(bad), EPOCH_KEY)
    with pytest.raises(TruncatedCiphertext):
        open_batch(signed, ct[:-1], EPOCH_KEY)


def test_invalid_wrong_epoch_key_fails_opaquely() -> None:
    signed, ct = seal([b"a", b"b"])
    with pytest.raises(DecryptionFailed) as exc:
        open_batch(signed, ct, b"x" * 32)
    assert str(exc.value) == "cannot decrypt"


def test_invalid_ciphertext_moved_to_another_batch_does_not_open() -> None:
    signed, ct = seal([b"a"], seq=0)
    other, _ = seal([b"a"], seq=1)
    forged = SignedBatchHeader(
        msgspec.structs.replace(other.header, ciphertext_hash=signed.header.ciphertext_hash),
        b"",
    )
    with pytest.raises(DecryptionFailed):
        open_batch(forged, ct, EPOCH_KEY)


def test_invalid_tampered_header_fails_signature() -> None:
    signed, _ = seal([b"a", b"b"])
    forged = SignedBatchHeader(
        msgspec.structs.replace(signed.header, record_count=3), signed.signature
    )
    with pytest.raises(InvalidSignature):
        verify_header_signature(forged, VEHICLE.public_key)
    with pytest.raises(InvalidSignature):
        verify_header_signature(signed, seeded_key("someone").public_key)


def _encode(header: BatchHeader) -> bytes:
    return msgspec.msgpack.encode(
        SignedBatchHeader(header, VEHICLE.sign(compute_header_signing_bytes(header)))
    )


def test_invalid_header_shapes_are_refused() -> None:
    signed, _ = seal([b"a"])
    h = signed.header
    with pytest.raises(WrongEpoch):
        decode_signed_header(_encode(msgspec.structs.replace(h, epoch=h.epoch + 1)))
    with pytest.raises(WrongEpoch):
        decode_signed_header(_encode(msgspec.structs.replace(h, end_ms=h.start_ms + EPOCH_MS)))
    for changes in (
        {"record_count": 0},
        {"categories": ["zzz"]},
        {"categories": ["motion", "location"]},
        {"records_root": b"short"},
        {"nonce": b"short"},
        {"start_ms": h.end_ms + 1},
        {"version": 2},
    ):
        with pytest.raises(InvalidBatch):
            decode_signed_header(_encode(msgspec.structs.replace(h, **changes)))
    with pytest.raises(InvalidBatch):
        decode_signed_header(b"\x01\x02")
    with pytest.raises(InvalidBatch):
        decode_submitted(b"garbage")
    with pytest.raises(InvalidBatch):
        seal([])


def test_aead_refuses_wrong_aad_nonce_and_short_ciphertext() -> None:
    key, nonce = b"k" * 32, aead.generate_nonce()
    ct = aead.encrypt(key, nonce, b"hello", b"aad")
    assert aead.decrypt(key, nonce, ct, b"aad") == b"hello"
    with pytest.raises(DecryptionFailed):
        aead.decrypt(key, nonce, ct, b"other")
    with pytest.raises(DecryptionFailed):
        aead.decrypt(key, aead.generate_nonce(), ct, b"aad")
    with pytest.raises(DecryptionFailed):
        aead.decrypt(key, nonce, ct[:10], b"aad")


def test_hpke_box_opens_only_for_recipient_and_info() -> None:
    alice, bob = seeded_key("alice"), seeded_key("bob")
    box = seal_to(alice.public_key, b"secret", b"info")
    assert open_sealed_box(alice, box, b"info") == b"secret"
    with pytest.raises(DecryptionFailed):
        open_sealed_box(bob, box, b"info")
    with pytest.raises(DecryptionFailed):
        open_sealed_box(alice, box, b"other info")


def test_epoch_key_opens_for_owner_and_custodian_only() -> None:
    car = make_car("v1", seeded_key("custodian/saic"))
    env = seal_epoch_key(EPOCH_KEY, "v1", 7, car.owner.public_key, car.custodian.public_key)
    assert open_epoch_key(env, car.owner) == EPOCH_KEY
    assert open_epoch_key(env, car.custodian) == EPOCH_KEY
    with pytest.raises(DecryptionFailed):
        open_epoch_key(env, car.key)
    assert EPOCH_KEY not in env
    assert len(compute_key_ref(env)) == 32


def test_invalid_epoch_key_box_moved_to_another_scope_fails() -> None:
    car = make_car("v1", seeded_key("custodian/saic"))
    env = decode_envelope(
        seal_epoch_key(EPOCH_KEY, "v1", 7, car.owner.public_key, car.custodian.public_key)
    )
    # The owner's box re-labelled as another epoch (or vehicle) does not open.
    for vid, epoch in (("v1", 8), ("v2", 7)):
        moved = msgspec.msgpack.encode(msgspec.structs.replace(env, vehicle_id=vid, epoch=epoch))
        with pytest.raises(DecryptionFailed):
            open_epoch_key(moved, car.owner)
    info = compute_seal_info("v1", 7, "owner")
    assert open_sealed_box(car.owner, env.owner_box, info) == EPOCH_KEY
    with pytest.raises(InvalidBody):
        decode_envelope(b"\x00" * 5000)


def test_recorder_closes_batches_by_window_size_and_epoch() -> None:
    car = make_car("v1", seeded_key("custodian/saic"))
    from tests.dataplane import make_records

    def counts(rec: object, n: int) -> list[int]:
        uploads = []
        for t, r in make_records(n, NOW_MS):
            uploads += rec.add_at(r, t)  # type: ignore[attr-defined]
        uploads += rec.flush()  # type: ignore[attr-defined]
        assert [u.seq for u in uploads] == list(range(len(uploads)))
        return [u.record_count for u in uploads]

    assert counts(car.recorder(window_ms=30_000), 70) == [30, 30, 10]
    assert counts(car.recorder(max_records=25), 60) == [25, 25, 10]
    # Crossing midnight closes the batch and starts a new epoch at seq 0.
    rec2 = car.recorder()
    midnight = (compute_epoch(NOW_MS) + 1) * EPOCH_MS
    out = []
    for t, r in make_records(4, midnight - 2000):
        out += rec2.add_at(r, t)
    out += rec2.flush()
    assert [(u.epoch, u.seq, u.record_count) for u in out] == [
        (compute_epoch(NOW_MS), 0, 2),
        (compute_epoch(NOW_MS) + 1, 0, 2),
    ]
    sub = decode_submitted(out[1].body)
    records = open_batch(
        decode_signed_header(sub.header), sub.ciphertext, rec2.get_epoch_key(out[1].epoch)
    )
    assert [decode_record(r).time_ms for r in records] == [midnight, midnight + 1000]  # type: ignore[union-attr]
