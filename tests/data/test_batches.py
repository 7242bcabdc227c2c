"""Batches (v2): category segments, salted roots, sealing, signing, opening."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from carchain.crypto import aead
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
    verify_header_signature,
)
from carchain.data.records import Telemetry, decode_record, encode_record
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
from tests.data.batch_helpers import VEHICLE, category_keys, mixed_records, seal
from tests.data.test_records import telemetry
from tests.dataplane import NOW_MS, make_car


@given(st.lists(st.binary(max_size=40), max_size=300))
def test_records_root_is_the_rfc6962_root(leaves: list[bytes]) -> None:
    assert compute_records_root(leaves) == compute_merkle_root(leaves)


@settings(max_examples=30)
@given(st.lists(telemetry, min_size=1, max_size=30))
def test_sealed_batch_opens_to_its_records(records: list[Telemetry]) -> None:
    # An all-empty record has no projection (minimisation never lets one out).
    assume(all(any(getattr(r, f) is not None for f in r.__struct_fields__) for r in records))
    raws = [encode_record(r) for r in records]
    signed, ct = seal(raws)
    assert signed.header.record_count == len(raws)
    verify_header_signature(signed, VEHICLE.public_key)
    assert open_batch(signed, ct, category_keys(raws)) == raws


def test_one_segment_per_category_present() -> None:
    records = mixed_records()
    signed, ct = seal(records)
    h = signed.header
    assert h.categories == ["diagnostics", "location", "motion", "time"]
    assert {s.category: s.count for s in h.segments} == {
        "diagnostics": 3,
        "location": 3,
        "motion": 3,
        "time": 6,
    }
    assert sum(s.ciphertext_size for s in h.segments) == len(ct) == h.ciphertext_size


def test_no_plaintext_in_the_ciphertext_or_header() -> None:
    secret = "LSVAB4BG7KN012345 driver=Zhang Wei"
    from carchain.data.records import Diagnostics

    records = [encode_record(Diagnostics(NOW_MS, [secret], True))] * 5
    signed, ct = seal(records)
    assert secret.encode() not in ct
    assert secret.encode() not in msgspec.msgpack.encode(signed)


def test_invalid_tampered_ciphertext_is_refused() -> None:
    records = mixed_records(2)
    signed, ct = seal(records)
    bad = bytearray(ct)
    bad[20] ^= 1
    with pytest.raises(CiphertextMismatch):
        open_batch(signed, bytes(bad), category_keys(records))
    with pytest.raises(TruncatedCiphertext):
        open_batch(signed, ct[:-1], category_keys(records))


def test_invalid_wrong_category_key_fails_opaquely() -> None:
    records = mixed_records(2)
    signed, ct = seal(records)
    wrong = {c: b"x" * 32 for c in category_keys(records)}
    with pytest.raises(DecryptionFailed) as exc:
        open_batch(signed, ct, wrong)
    assert str(exc.value) == "cannot decrypt"


def test_invalid_ciphertext_moved_to_another_batch_does_not_open() -> None:
    records = mixed_records(2)
    signed, ct = seal(records, seq=0)
    other, _ = seal(records, seq=1)
    forged = SignedBatchHeader(
        msgspec.structs.replace(
            other.header,
            ciphertext_hash=signed.header.ciphertext_hash,
            segments=[
                msgspec.structs.replace(o, ciphertext_hash=s.ciphertext_hash, nonce=s.nonce)
                for o, s in zip(other.header.segments, signed.header.segments, strict=True)
            ],
        ),
        b"",
    )
    with pytest.raises(DecryptionFailed):
        open_batch(forged, ct, category_keys(records))


def test_invalid_tampered_header_fails_signature() -> None:
    signed, _ = seal(mixed_records(2))
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
    signed, _ = seal(mixed_records(2))
    h = signed.header
    seg = h.segments
    with pytest.raises(WrongEpoch):
        decode_signed_header(_encode(msgspec.structs.replace(h, epoch=h.epoch + 1)))
    with pytest.raises(WrongEpoch):
        decode_signed_header(_encode(msgspec.structs.replace(h, end_ms=h.start_ms + EPOCH_MS)))
    for changes in (
        {"record_count": 0},
        {"segments": []},
        {"segments": [msgspec.structs.replace(seg[0], category="zzz"), *seg[1:]]},
        {"segments": list(reversed(seg))},
        {"segments": [seg[0], seg[0], *seg[2:]]},
        {"segments": [msgspec.structs.replace(seg[0], records_root=b"short"), *seg[1:]]},
        {"segments": [msgspec.structs.replace(seg[0], nonce=b"short"), *seg[1:]]},
        {"segments": [msgspec.structs.replace(seg[0], offset=1), *seg[1:]]},
        {"segments": [msgspec.structs.replace(seg[0], count=3), *seg[1:]]},
        {"segments": [msgspec.structs.replace(seg[0], key_ref=b""), *seg[1:]]},
        {"ciphertext_size": h.ciphertext_size + 1},
        {"start_ms": h.end_ms + 1},
        {"version": 1},
    ):
        with pytest.raises(InvalidBatch):
            decode_signed_header(_encode(msgspec.structs.replace(h, **changes)))
    with pytest.raises(InvalidBatch):
        decode_signed_header(b"\x01\x02")
    with pytest.raises(InvalidBatch):
        decode_submitted(b"garbage")
    with pytest.raises(InvalidBatch):
        seal([])


@settings(max_examples=200)
@given(st.binary(max_size=600))
def test_invalid_random_header_bytes_raise_invalid_batch(raw: bytes) -> None:
    with pytest.raises((InvalidBatch, WrongEpoch)):
        decode_signed_header(raw)


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
    signed = decode_signed_header(sub.header)
    keys = {c: rec2.get_category_key(out[1].epoch, c)[0] for c in signed.header.categories}
    records = open_batch(signed, sub.ciphertext, keys)
    assert [decode_record(r).time_ms for r in records] == [midnight, midnight + 1000]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("decode", "raw", "error"),
    [
        (decode_signed_header, b"\x92\x9a\x02\xa1\x80", InvalidBatch),
        (decode_submitted, b"\x93\xa1\x80\xc4\x00\x90", InvalidBatch),
        (decode_record, b"\x92\xa1\x80\x00", InvalidBody),
    ],
)
def test_invalid_utf8_text_is_a_typed_error(decode: Any, raw: bytes, error: type) -> None:
    """msgspec raises UnicodeDecodeError for bad UTF-8: it must surface as the typed error."""
    with pytest.raises(error):
        decode(raw)
