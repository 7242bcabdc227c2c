"""Gateway reads with ``case_id``: the officer of an authorised, unexpired case reads its
scope; custodians of committee(epoch) list batches and fetch envelopes; every other key,
case state, vehicle, epoch and category is refused."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from carchain.core import governance as gov
from carchain.core.case_records import DAY_MS, CloseCase, RejectCase
from carchain.core.cases import get_case_count
from carchain.data.batches import decode_signed_header, get_segment
from carchain.errors import CaseExpired, CaseNotAuthorized, Unauthorized
from tests.core.lawful_world import (
    EPOCH_MS,
    OFFICER,
    approve,
    authorize_body,
    genesis,  # noqa: F401
    govern,
    open_body,
    scope,
)
from tests.core.memory import core_chain  # noqa: F401
from tests.gateway.case_world import CaseGateway, record_batches


def open_case(
    cg: CaseGateway,
    vehicles: list[str] | None = None,
    officer: str = OFFICER,
    by: str = "police",
    authorize: bool = True,
    **window: int,
) -> int:
    """Open a case (by ``by``, officer key ``officer``) and, by default, authorise it."""
    chain = cg.chain
    case_scope = scope(vehicles, **window)
    body = open_body(chain, case_scope)
    chain.send(by, msgspec.structs.replace(body, officer_key=chain.key(officer).public_key))
    case_id = get_case_count(chain.state)
    if authorize:
        chain.send("court2", authorize_body(chain, case_id, case_scope))
    return case_id


def reads(
    cg: CaseGateway, hh: bytes, category: str = "location"
) -> list[tuple[str, dict[str, Any]]]:
    """The five case reads of one batch (and its ``category`` segment and envelope)."""
    row = cg.ingestor.journal.get_batch_optional(hh)
    assert row is not None
    ref = get_segment(decode_signed_header(row.header).header, category).key_ref
    return [
        ("/batches", {"vehicle_id": row.vehicle_id}),
        (f"/batches/{hh.hex()}", {}),
        (f"/batches/{hh.hex()}/segments/{category}/ciphertext", {}),
        (f"/batches/{hh.hex()}/proof", {}),
        (f"/keys/{ref.hex()}", {}),
    ]


def refused(cg: CaseGateway, key: str, case_id: int, path: str, params: dict[str, Any]) -> str:
    """Return the error code of a read that must be refused."""
    with pytest.raises((Unauthorized, CaseNotAuthorized, CaseExpired)) as err:
        cg.get(cg.chain.key(key), path, case_id=case_id, **params)
    return err.value.code


def test_officer_reads_the_scope_of_its_authorised_case(case_gateway: CaseGateway) -> None:
    cg = case_gateway
    (hh,) = record_batches(cg)
    case_id = open_case(cg)
    officer = cg.chain.key(OFFICER)
    listing, batch, segment, proof, keys = reads(cg, hh)
    docs = cg.get(officer, listing[0], case_id=case_id, **listing[1])["batches"]
    assert [d["header_hash"] for d in docs] == [hh.hex()]
    assert cg.get(officer, batch[0], case_id=case_id)["batch_header"]
    assert cg.get(officer, segment[0], case_id=case_id)
    assert cg.get(officer, proof[0], case_id=case_id)["batch_header"]
    assert cg.get(officer, keys[0], case_id=case_id)
    # Without case_id the officer is nobody here.
    for path, params in reads(cg, hh):
        with pytest.raises(Unauthorized):
            cg.get(officer, path, **params)


def test_invalid_officer_of_another_case_or_authority(case_gateway: CaseGateway) -> None:
    cg = case_gateway
    (hh,) = record_batches(cg)
    case_a = open_case(cg, ["saic:1"])
    case_b = open_case(cg, ["saic:2"], officer="officer-b", by="police2")
    for path, params in reads(cg, hh):
        assert refused(cg, "officer-b", case_a, path, params) == "unauthorized"
        # Its own case does not reach saic:1.
        assert refused(cg, "officer-b", case_b, path, params) == "unauthorized"
        # Nor do the authority's or the court's member keys.
        assert refused(cg, "police", case_a, path, params) == "unauthorized"
        assert refused(cg, "court2", case_a, path, params) == "unauthorized"


def test_invalid_expired_case(case_gateway: CaseGateway) -> None:
    cg = case_gateway
    (hh,) = record_batches(cg)
    chain = cg.chain
    chain.send("police", open_body(chain, scope()))
    case_id = get_case_count(chain.state)
    chain.send("court2", authorize_body(chain, case_id, scope(), expires_in_ms=3_600_000))
    assert cg.get(chain.key(OFFICER), f"/batches/{hh.hex()}", case_id=case_id)
    chain.now_ms += 2 * 3_600_000
    chain.block()
    for path, params in reads(cg, hh):
        assert refused(cg, OFFICER, case_id, path, params) == "case_expired"
        assert refused(cg, "escrow/court", case_id, path, params) == "case_expired"


def test_invalid_case_not_authorised_rejected_or_closed(case_gateway: CaseGateway) -> None:
    cg = case_gateway
    (hh,) = record_batches(cg)
    chain = cg.chain
    opened = open_case(cg, authorize=False)
    rejected = open_case(cg, authorize=False)
    chain.send("court2", RejectCase(rejected, "insufficient_basis"))
    closed = open_case(cg)
    chain.send("police", CloseCase(closed))
    for case_id in (opened, rejected, closed, 999):
        for path, params in reads(cg, hh):
            assert refused(cg, OFFICER, case_id, path, params) == "case_not_authorized"


def test_invalid_out_of_scope_vehicle_epoch_and_category(case_gateway: CaseGateway) -> None:
    cg = case_gateway
    (hh,) = record_batches(cg)  # saic:1, epoch EPOCH
    other_vehicle = open_case(cg, ["saic:2"])
    later = open_case(cg, ["saic:1"], from_ms=EPOCH_MS + DAY_MS, until_ms=EPOCH_MS + 2 * DAY_MS)
    for path, params in reads(cg, hh)[1:]:
        assert refused(cg, OFFICER, other_vehicle, path, params) == "unauthorized"
        assert refused(cg, OFFICER, later, path, params) == "unauthorized"
    listing = reads(cg, hh)[0]
    assert refused(cg, OFFICER, other_vehicle, *listing) == "unauthorized"
    # The vehicle is in the later case's scope, but none of its batches is.
    assert cg.get(cg.chain.key(OFFICER), listing[0], case_id=later, **listing[1]) == {"batches": []}
    in_scope = open_case(cg, ["saic:1"])
    # motion is escrowed but not in the case; time is not even escrowed.
    for category in ("motion", "time"):
        for path, params in reads(cg, hh, category)[2:]:
            if "proof" not in path:
                assert refused(cg, OFFICER, in_scope, path, params) == "unauthorized"
    # Reading for a release and a case at once, or a whole batch for a case, is refused.
    with pytest.raises(Unauthorized):
        cg.get(cg.chain.key(OFFICER), reads(cg, hh)[2][0], case_id=in_scope, request_seq=0)


def test_custodians_list_and_fetch_envelopes_and_nothing_more(case_gateway: CaseGateway) -> None:
    cg = case_gateway
    (hh,) = record_batches(cg)
    case_id = open_case(cg)
    approve(cg.chain, case_id, "court")
    listing, batch, segment, proof, keys = reads(cg, hh)
    for key in ("escrow/court", "court", "escrow/caam", "escrow/audit", "saic"):
        signer = cg.chain.key(key)
        assert cg.get(signer, listing[0], case_id=case_id, **listing[1])["batches"]
        assert cg.get(signer, keys[0], case_id=case_id)
    for key in ("escrow/court", "escrow/caam", "court"):
        for path, params in (batch, segment, proof):
            assert refused(cg, key, case_id, path, params) == "unauthorized"
    # Members holding no seat for this vehicle: an insurer, a supplier, another OEM.
    for key in ("pingan", "bosch", "geely"):
        for path, params in (listing, keys):
            assert refused(cg, key, case_id, path, params) == "unauthorized"


def test_invalid_suspended_custodian_reads_nothing(case_gateway: CaseGateway) -> None:
    cg = case_gateway
    (hh,) = record_batches(cg)
    case_id = open_case(cg)
    assert govern(cg.chain, gov.SuspendMember("caam")).status == "executed"
    listing, _, _, _, keys = reads(cg, hh)
    for path, params in (listing, keys):
        assert refused(cg, "escrow/caam", case_id, path, params) == "unauthorized"


def test_invalid_officer_reads_no_segment_of_a_batch_straddling_the_window(
    case_gateway: CaseGateway,
) -> None:
    # The epoch's key opens the whole batch: a batch that starts before the window (or ends
    # after it) would give the officer records outside its scope. The officer's own SDK
    # never opens one; the gateway must not serve its ciphertext either.
    from tests.gateway.case_world import NOON_MS

    cg = case_gateway
    (hh,) = record_batches(cg)
    row = cg.ingestor.journal.get_batch_optional(hh)
    assert row is not None and row.start_ms < row.end_ms
    officer = cg.chain.key(OFFICER)
    starts_inside = open_case(cg, ["saic:1"], from_ms=row.start_ms + 1, until_ms=NOON_MS + DAY_MS)
    ends_inside = open_case(cg, ["saic:1"], from_ms=EPOCH_MS, until_ms=row.end_ms)
    whole = open_case(cg, ["saic:1"], from_ms=row.start_ms, until_ms=row.end_ms + 1)
    segment = reads(cg, hh)[2][0]
    for case_id in (starts_inside, ends_inside):
        assert refused(cg, OFFICER, case_id, segment, {}) == "unauthorized"
        assert cg.get(officer, f"/batches/{hh.hex()}", case_id=case_id)["batch_header"]
    assert cg.get(officer, segment, case_id=whole)


def test_invalid_nothing_is_read_for_the_case_of_a_suspended_authority(
    case_gateway: CaseGateway,
) -> None:
    cg = case_gateway
    (hh,) = record_batches(cg)
    case_id = open_case(cg)
    assert govern(cg.chain, gov.SuspendMember("police")).status == "executed"
    for path, params in reads(cg, hh):
        assert refused(cg, OFFICER, case_id, path, params) == "case_not_authorized"
        assert refused(cg, "escrow/court", case_id, path, params) in (
            "case_not_authorized",
            "unauthorized",
        )


def test_an_allowed_case_read_is_not_authorised_again_in_the_same_block(
    case_gateway: CaseGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The authorisation (case, committee, members: several node queries per read) is
    # remembered for the block; the next block decides again, so closing the case or
    # suspending its authority takes effect at once.
    from carchain.gateway import case_access

    cg = case_gateway
    (hh,) = record_batches(cg)
    case_id = open_case(cg)
    officer = cg.chain.key(OFFICER)
    calls: list[int] = []
    real = case_access.get_readable_case

    def counting(view: Any, cid: int, now_ms: int) -> Any:
        calls.append(cid)
        return real(view, cid, now_ms)

    monkeypatch.setattr(case_access, "get_readable_case", counting)
    keys, segment = reads(cg, hh)[4][0], reads(cg, hh)[2][0]
    for _ in range(3):
        assert cg.get(officer, keys, case_id=case_id)
        assert cg.get(officer, segment, case_id=case_id)
    assert len(calls) == 2  # one per distinct read, not per request
    cg.chain.send("police", CloseCase(case_id))
    assert refused(cg, OFFICER, case_id, keys, {}) == "case_not_authorized"
    assert refused(cg, OFFICER, case_id, segment, {}) == "case_not_authorized"
