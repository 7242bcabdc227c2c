"""End to end: the car seals each escrowed key k-of-n to the 3-of-4 committee, the gateway
stores it, three custodians open their shares and reseal them to the officer of an
authorised case, and the officer decrypts exactly the scoped segments; two custodians
cannot, a share released in case A opens nowhere else, and shares of another vehicle,
epoch or category neither open nor combine for this key."""

from __future__ import annotations

import msgspec
import pytest

from carchain.core.case_records import DAY_MS
from carchain.core.cases import get_case_count
from carchain.core.escrow_releases import get_releases
from carchain.data.batches import decode_signed_header, get_segment, open_batch_segments
from carchain.data.custody import (
    CategoryKeyEnvelope,
    decode_key_envelope,
    open_batch_category_keys,
)
from carchain.data.escrow_shares import combine_category_key, open_officer_share
from carchain.data.projections import Projection
from carchain.errors import DecryptionFailed, KeyCheckMismatch
from tests.core.lawful_world import (
    OFFICER,
    SAIC_CARS,
    approve,
    authorize_body,
    genesis,  # noqa: F401
    open_body,
    scope,
)
from tests.core.memory import core_chain  # noqa: F401
from tests.gateway.case_world import (
    NOON_MS,
    CaseGateway,
    collect_officer_shares,
    officer_decrypt,
    record_batches,
    release_shares,
)


def open_authorized(
    cg: CaseGateway, vehicles: list[str] | None = None, officer: str = OFFICER
) -> int:
    """Open (police) and authorise (court2) a case over ``vehicles``; custodians at seats
    1-3 and SAIC (the OEM seat) approve it; return its id."""
    chain = cg.chain
    body = open_body(chain, scope(vehicles))
    chain.send("police", msgspec.structs.replace(body, officer_key=chain.key(officer).public_key))
    case_id = get_case_count(chain.state)
    chain.send("court2", authorize_body(chain, case_id, scope(vehicles)))
    approve(chain, case_id, "court", "caam", "audit")
    return case_id


def owner_view(cg: CaseGateway, header_hash: bytes, category: str) -> list[Projection]:
    """The segment as the owner decrypts it from the stored envelopes."""
    row = cg.ingestor.journal.get_batch_optional(header_hash)
    assert row is not None
    signed = decode_signed_header(row.header)
    keys = open_batch_category_keys(signed, cg.keys.get, cg.chain.key("owner-a"))
    ct = cg.ingestor.blobs.get(signed.header.ciphertext_hash)
    return open_batch_segments(signed, ct, {category: keys[category]})[category].projections


def test_three_custodians_let_the_officer_decrypt_the_scoped_segments(
    case_gateway: CaseGateway,
) -> None:
    cg = case_gateway
    (hh,) = record_batches(cg)
    case_id = open_authorized(cg, ["saic:1"])
    for index in (1, 2, 3):
        release_shares(cg, case_id, index)
    officer = cg.chain.key(OFFICER)
    for category in ("location", "crash_pulse"):
        got = officer_decrypt(cg, case_id, hh, category, officer)
        assert got and got == owner_view(cg, hh, category)
    # Location holds the car's positions; the officer reads them as the owner does.
    assert {p.fields["lat"] for p in officer_decrypt(cg, case_id, hh, "location", officer)} == {
        31.2
    }


def test_invalid_two_custodians_do_not_give_the_key(case_gateway: CaseGateway) -> None:
    cg = case_gateway
    (hh,) = record_batches(cg)
    case_id = open_authorized(cg, ["saic:1"])
    for index in (1, 2, 3):
        release_shares(cg, case_id, index)
    officer = cg.chain.key(OFFICER)
    for pair in ((1, 2), (1, 3), (2, 3)):
        with pytest.raises(KeyCheckMismatch):
            officer_decrypt(cg, case_id, hh, "location", officer, pair)


def test_invalid_share_of_case_a_does_not_open_under_case_b(case_gateway: CaseGateway) -> None:
    cg = case_gateway
    record_batches(cg)
    case_a = open_authorized(cg, ["saic:1"])
    case_b = open_authorized(cg, ["saic:1"])  # same officer, same scope: only the case differs
    items = release_shares(cg, case_a, 2)
    officer = cg.chain.key(OFFICER)
    for it in items:
        assert open_officer_share(
            it.box, case_a, it.vehicle_id, it.epoch, it.category, 1, 2, officer
        )
        with pytest.raises(DecryptionFailed):
            open_officer_share(it.box, case_b, it.vehicle_id, it.epoch, it.category, 1, 2, officer)


def test_invalid_shares_of_another_vehicle_epoch_or_category_neither_open_nor_combine(
    case_gateway: CaseGateway,
) -> None:
    cg = case_gateway
    chain = cg.chain
    (hh1,) = record_batches(cg, "saic:1")
    (hh2,) = record_batches(cg, "saic:2")
    (hh3,) = record_batches(cg, "saic:1", NOON_MS + DAY_MS)  # the next epoch
    chain.now_ms = NOON_MS + DAY_MS + 3_600_000
    case_id = open_authorized(cg, SAIC_CARS)
    for index in (1, 2, 3):
        release_shares(cg, case_id, index, "saic:1")
        release_shares(cg, case_id, index, "saic:2")
    officer = chain.key(OFFICER)

    def envelope(hh: bytes, category: str) -> CategoryKeyEnvelope:
        row = cg.ingestor.journal.get_batch_optional(hh)
        assert row is not None
        ref = get_segment(decode_signed_header(row.header).header, category).key_ref
        return decode_key_envelope(cg.keys.get(ref))

    this = envelope(hh1, "location")
    others = [envelope(hh2, "location"), envelope(hh3, "location"), envelope(hh1, "crash_pulse")]
    for other in others:
        theirs = collect_officer_shares(cg, case_id, other, officer)
        assert len(theirs) == 3 and combine_category_key(theirs, other)
        with pytest.raises(KeyCheckMismatch):
            combine_category_key(theirs, this)
        ours = collect_officer_shares(cg, case_id, this, officer)
        with pytest.raises(KeyCheckMismatch):
            combine_category_key([*ours[:2], theirs[2]], this)
    # A released box opened as if it were this key's share (this vehicle, epoch, category).
    boxes = [
        it
        for rel in get_releases(chain.state, case_id)
        for it in rel.items
        if (it.vehicle_id, it.epoch, it.category) != (this.vehicle_id, this.epoch, this.category)
    ]
    assert boxes
    for it in boxes:
        with pytest.raises(DecryptionFailed):
            open_officer_share(
                it.box, case_id, this.vehicle_id, this.epoch, this.category, 1, it.index, officer
            )
