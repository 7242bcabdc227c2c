"""Category key envelopes: owner always, custodian only for non-sensitive, a key check."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.crypto.kdf import compute_category_key
from carchain.crypto.sealing import open_sealed_box, seal_to
from carchain.data.categories import DataCategory, is_sensitive
from carchain.data.custody import (
    CategoryKeyEnvelope,
    EscrowShare,
    compute_key_ref,
    compute_seal_info,
    decode_key_envelope,
    open_category_key,
    seal_category_key,
    validate_envelope_for,
)
from carchain.errors import DecryptionFailed, InvalidKeyEnvelope
from tests.conftest import seeded_key

OWNER = seeded_key("owner/v1")
CUSTODIAN = seeded_key("custodian/saic")
KEY = compute_category_key(b"e" * 32, "v1", 7, "diagnostics")


def envelope(category: str) -> bytes:
    return seal_category_key(KEY, "v1", 7, category, OWNER.public_key, CUSTODIAN.public_key)


@pytest.mark.parametrize("category", [c.value for c in DataCategory])
def test_owner_opens_every_category_custodian_only_non_sensitive(category: str) -> None:
    raw = envelope(category)
    env = decode_key_envelope(raw)
    assert open_category_key(raw, OWNER) == KEY and env.escrow == []
    if is_sensitive(category):
        assert env.custodian == b"" and env.custodian_box == b""
        with pytest.raises(DecryptionFailed):
            open_category_key(raw, CUSTODIAN)
    else:
        assert open_category_key(raw, CUSTODIAN) == KEY
    with pytest.raises(DecryptionFailed):
        open_category_key(raw, seeded_key("stranger"))
    assert KEY not in raw


def test_invalid_sensitive_envelope_sealed_to_the_custodian_is_refused() -> None:
    """A car (or forger) that adds a custodian box to a location key is refused."""
    env = decode_key_envelope(envelope("location"))
    info = compute_seal_info("v1", 7, "location", "custodian")
    forged = msgspec.structs.replace(
        env,
        custodian=CUSTODIAN.public_key,
        custodian_box=seal_to(CUSTODIAN.public_key, KEY, info),
    )
    with pytest.raises(InvalidKeyEnvelope):
        decode_key_envelope(msgspec.msgpack.encode(forged))
    with pytest.raises(InvalidKeyEnvelope):
        open_category_key(msgspec.msgpack.encode(forged), CUSTODIAN)


def test_invalid_non_sensitive_envelope_without_custodian_or_owner_is_refused() -> None:
    env = decode_key_envelope(envelope("diagnostics"))
    for change in (
        {"custodian": b"", "custodian_box": b""},
        {"owner_box": b""},
        {"owner": b"short"},
        {"category": "nosuch"},
        {"version": 1},
        {"escrow": [EscrowShare(CUSTODIAN.public_key, 1, b"box")]},
    ):
        with pytest.raises(InvalidKeyEnvelope):
            decode_key_envelope(msgspec.msgpack.encode(msgspec.structs.replace(env, **change)))
    with pytest.raises(InvalidKeyEnvelope):
        decode_key_envelope(b"\x00" * 5000)


@settings(max_examples=200)
@given(st.binary(max_size=400))
def test_invalid_random_envelope_bytes_raise_invalid_key_envelope(raw: bytes) -> None:
    with pytest.raises(InvalidKeyEnvelope):
        decode_key_envelope(raw)


def test_invalid_box_moved_to_another_scope_does_not_open() -> None:
    env = decode_key_envelope(envelope("diagnostics"))
    for change in ({"epoch": 8}, {"vehicle_id": "v2"}, {"category": "motion"}):
        moved = msgspec.msgpack.encode(msgspec.structs.replace(env, **change))
        with pytest.raises(DecryptionFailed):
            open_category_key(moved, OWNER)
    # The owner's box relabelled as the custodian's: the role is in the info too.
    swapped = msgspec.structs.replace(env, custodian=OWNER.public_key, custodian_box=env.owner_box)
    info = compute_seal_info("v1", 7, "diagnostics", "custodian")
    with pytest.raises(DecryptionFailed):
        open_sealed_box(OWNER, swapped.custodian_box, info)


def test_validate_envelope_for_checks_ref_and_scope() -> None:
    raw = envelope("diagnostics")
    ref = compute_key_ref(raw)
    assert isinstance(validate_envelope_for(raw, ref, "v1", 7, "diagnostics"), CategoryKeyEnvelope)
    for args in ((b"\x00" * 32, "v1", 7, "diagnostics"), (ref, "v2", 7, "diagnostics")):
        with pytest.raises(InvalidKeyEnvelope):
            validate_envelope_for(raw, *args)
    with pytest.raises(InvalidKeyEnvelope):
        validate_envelope_for(raw, ref, "v1", 7, "motion")


def test_category_keys_differ_by_scope() -> None:
    keys = {
        compute_category_key(b"e" * 32, vid, epoch, cat)
        for vid in ("v1", "v2")
        for epoch in (1, 2)
        for cat in ("diagnostics", "location")
    }
    assert len(keys) == 8


def test_invalid_box_of_another_key_fails_the_key_check() -> None:
    """An owner box resealed over another key (e.g. a forged envelope) does not open:
    the key check binds the envelope to its one key."""
    env = decode_key_envelope(envelope("diagnostics"))
    info = compute_seal_info("v1", 7, "diagnostics", "owner")
    forged = msgspec.structs.replace(env, owner_box=seal_to(OWNER.public_key, b"k" * 32, info))
    with pytest.raises(DecryptionFailed):
        open_category_key(msgspec.msgpack.encode(forged), OWNER)
    assert open_category_key(envelope("diagnostics"), OWNER) == KEY


def test_invalid_v2_envelope_is_refused() -> None:
    """The v2 layout (9 fields, no committee version or key check) is not a v3 envelope."""
    env = decode_key_envelope(envelope("diagnostics"))
    v2 = msgspec.msgpack.encode(list(msgspec.structs.astuple(env))[:9])
    with pytest.raises(InvalidKeyEnvelope):
        decode_key_envelope(v2)
