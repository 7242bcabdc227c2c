"""Release packages: custodian derives segment keys, seals them to one requester and request."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.crypto.kdf import compute_category_key
from carchain.data.batches import (
    BatchIdentity,
    SealedBatch,
    compute_category_projections,
    get_segment_ciphertext,
    open_segment,
    seal_batch,
)
from carchain.data.custody import compute_key_ref, seal_category_key
from carchain.data.release import (
    ReleaseItem,
    compute_release_commitment,
    decode_release_package,
    derive_release_items,
    open_release,
    seal_release,
)
from carchain.errors import DecryptionFailed, InvalidKeyEnvelope, InvalidReleasePackage, NotFound
from tests.conftest import seeded_key
from tests.data.batch_helpers import EPOCH, EPOCH_KEY, VEHICLE, mixed_records
from tests.dataplane import NOW_MS

OWNER = seeded_key("owner/v1")
CUSTODIAN = seeded_key("custodian/saic")
REQUESTER = seeded_key("member/insurer")
CHAIN = "carchain-test"


def sealed_batches(n: int = 3) -> tuple[list[SealedBatch], dict[bytes, bytes]]:
    """Seal ``n`` batches of mixed records as the car does; return them and the envelopes."""
    records = mixed_records()
    envelopes: dict[str, bytes] = {}
    keys: dict[str, bytes] = {}
    for cat in compute_category_projections(records):
        keys[cat] = compute_category_key(EPOCH_KEY, "v1", EPOCH, cat)
        envelopes[cat] = seal_category_key(
            keys[cat], "v1", EPOCH, cat, OWNER.public_key, CUSTODIAN.public_key
        )
    refs = {c: compute_key_ref(e) for c, e in envelopes.items()}
    batches = [
        seal_batch(
            records,
            key=VEHICLE,
            batch=BatchIdentity("v1", EPOCH, seq, NOW_MS, NOW_MS + 1000),
            category_keys=keys,
            key_refs=refs,
        )
        for seq in range(n)
    ]
    return batches, {refs[c]: e for c, e in envelopes.items()}


def test_custodian_release_opens_diagnostics_only_for_the_requester() -> None:
    batches, envelopes = sealed_batches()
    headers = [b.header for b in batches[:2]]
    items = derive_release_items(envelopes, CUSTODIAN, headers, ["diagnostics"])
    assert [(i.header_hash, i.category) for i in items] == [
        (b.header_hash, "diagnostics") for b in batches[:2]
    ]
    package = seal_release(items, REQUESTER.public_key, CHAIN, "v1", 4)
    assert all(i.segment_key not in package for i in items)
    got = open_release(package, REQUESTER, CHAIN, "v1", 4)
    assert got == items
    for b, item in zip(batches, got, strict=False):
        diag = open_segment(
            b.signed,
            "diagnostics",
            get_segment_ciphertext(b.signed.header, b.ciphertext, "diagnostics"),
            item.segment_key,
        )
        assert len(diag) == 3
        with pytest.raises(DecryptionFailed):
            open_segment(
                b.signed,
                "location",
                get_segment_ciphertext(b.signed.header, b.ciphertext, "location"),
                item.segment_key,
            )
    # The third batch was not released: no item of it opens it.
    third = batches[2]
    ct = get_segment_ciphertext(third.signed.header, third.ciphertext, "diagnostics")
    for item in got:
        with pytest.raises(DecryptionFailed):
            open_segment(third.signed, "diagnostics", ct, item.segment_key)
    assert len(compute_release_commitment(package)) == 32


def test_custodian_cannot_derive_a_sensitive_category() -> None:
    batches, envelopes = sealed_batches(1)
    with pytest.raises(DecryptionFailed):
        derive_release_items(envelopes, CUSTODIAN, [batches[0].header], ["location"])
    # The owner can (its separate consent is the only way location leaves).
    items = derive_release_items(envelopes, OWNER, [batches[0].header], ["location"])
    assert [i.category for i in items] == ["location"]


def test_invalid_release_without_the_envelope_is_refused() -> None:
    batches, envelopes = sealed_batches(1)
    with pytest.raises(NotFound):
        derive_release_items({}, CUSTODIAN, [batches[0].header], ["diagnostics"])
    # An envelope under another segment's key_ref is not taken for it.
    swapped = dict(zip(envelopes, reversed(list(envelopes.values())), strict=True))
    with pytest.raises(InvalidKeyEnvelope):
        derive_release_items(swapped, CUSTODIAN, [batches[0].header], ["diagnostics"])
    # A batch without the category releases nothing for it.
    assert derive_release_items(envelopes, CUSTODIAN, [batches[0].header], ["occupant"]) == []


@pytest.mark.parametrize(
    "who",
    [
        (seeded_key("member/other"), CHAIN, "v1", 4),
        (REQUESTER, "other-chain", "v1", 4),
        (REQUESTER, CHAIN, "v2", 4),
        (REQUESTER, CHAIN, "v1", 5),
    ],
)
def test_invalid_release_opens_for_no_other_requester_chain_vehicle_or_request(
    who: tuple[object, str, str, int],
) -> None:
    batches, envelopes = sealed_batches(1)
    items = derive_release_items(envelopes, CUSTODIAN, [batches[0].header], ["diagnostics"])
    package = seal_release(items, REQUESTER.public_key, CHAIN, "v1", 4)
    with pytest.raises(DecryptionFailed):
        open_release(package, *who)  # type: ignore[arg-type]


def test_invalid_relabelled_package_does_not_open() -> None:
    """Rewriting the clear fields to another request does not move the box there."""
    batches, envelopes = sealed_batches(1)
    items = derive_release_items(envelopes, CUSTODIAN, [batches[0].header], ["diagnostics"])
    package = decode_release_package(seal_release(items, REQUESTER.public_key, CHAIN, "v1", 4))
    for change in ({"request_seq": 5}, {"vehicle_id": "v2"}, {"chain_id": "x"}):
        moved = msgspec.structs.replace(package, **change)
        args = (moved.chain_id, moved.vehicle_id, moved.request_seq)
        with pytest.raises(DecryptionFailed):
            open_release(msgspec.msgpack.encode(moved), REQUESTER, *args)


def test_invalid_release_items_are_refused() -> None:
    good = ReleaseItem(b"h" * 32, "diagnostics", b"k" * 32)
    for bad in (
        [good, good],
        [ReleaseItem(b"h", "diagnostics", b"k" * 32)],
        [ReleaseItem(b"h" * 32, "diagnostics", b"k")],
        [ReleaseItem(b"h" * 32, "nosuch", b"k" * 32)],
    ):
        with pytest.raises(InvalidReleasePackage):
            seal_release(bad, REQUESTER.public_key, CHAIN, "v1", 0)


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_invalid_random_package_bytes_raise_typed_errors(raw: bytes) -> None:
    with pytest.raises((InvalidReleasePackage, DecryptionFailed)):
        open_release(raw, REQUESTER, CHAIN, "v1", 0)
