"""The OEM's signed statement to a customer verifies offline, fails on a dropped or edited
entry, refuses to exist while a sealed case touches the car; the OEM's release audit
re-checks every release against authorisation, scope and quorum."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from carchain.core.case_index import ReleasePointer
from carchain.core.case_records import DAY_MS, STORE, Case, CloseCase
from carchain.core.state import compute_key, put_record
from carchain.errors import (
    InvalidBody,
    InvalidProof,
    InvalidSignature,
    MalformedBundle,
    SealedCasePending,
    Unauthorized,
    UntrustedHeader,
)
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.oem_releases import check_release, verify_oem_releases
from carchain.sdk.oem_statement import build_oem_statement, verify_oem_statement
from tests.core.lawful_world import (
    approve,
    authorized_case,
    genesis,  # noqa: F401
    get_case,
    item,
    release_body,
    setup_world,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401
from tests.lawful_node import NodeChain, node_chain, run_case

__all__ = ["node_chain"]


def trust(chain: NodeChain, doc: dict[str, Any]) -> BlockTrust:
    block = chain.get(f"/blocks/{doc['proof_height']}")
    return BlockTrust(trusted_hash=bytes.fromhex(block["hash"]))


def statement(chain: NodeChain, vid: str = "saic:1", start: int = 0) -> dict[str, Any]:
    return build_oem_statement(
        chain.sdk(), chain.key("saic"), "saic", vid, start, chain.now_ms + 10
    )


def test_statement_verifies_offline_and_lists_the_disclosures(node_chain: NodeChain) -> None:
    case_id = run_case(node_chain, notice_delay_ms=0)
    doc = statement(node_chain)
    checked = verify_oem_statement(doc, trust(node_chain, doc))
    assert (checked.oem, checked.vehicle_id) == ("saic", "saic:1")
    kinds = [e.kind for e in checked.disclosures]
    assert kinds == ["case_notice", "case_release"]
    ((case, releases),) = checked.cases
    assert (case.case_id, releases.keys) == (case_id, 1)
    assert checked.trusted_by


def test_statement_of_a_window_proves_its_edges(node_chain: NodeChain) -> None:
    run_case(node_chain, notice_delay_ms=0)
    events_before = node_chain.now_ms
    node_chain.advance_to(node_chain.now_ms + DAY_MS)
    run_case(node_chain, notice_delay_ms=0)
    doc = build_oem_statement(
        node_chain.sdk(),
        node_chain.key("saic"),
        "saic",
        "saic:1",
        events_before + 1,
        node_chain.now_ms + 10,
    )
    checked = verify_oem_statement(doc, trust(node_chain, doc))
    assert len(checked.disclosures) == 2  # only the second case's notice and release
    assert doc["first_seq"] > 0  # one entry before the window proves where it starts
    assert all(e.time_ms > events_before for e in checked.events)
    bad = copy.deepcopy(doc)
    bad["log_entries"].pop(0)  # drop the boundary: the run no longer starts before
    bad["first_seq"] += 1
    with pytest.raises(InvalidProof):
        verify_oem_statement(bad, trust(node_chain, doc))


def resign(chain: NodeChain, doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Return ``doc`` with ``changes``, signed again by its OEM (a forging OEM)."""
    from carchain.sdk.bundle_block import compute_block_section_hash
    from carchain.sdk.oem_statement import compute_statement_signing_bytes, parse_statement

    out = copy.deepcopy(doc) | changes
    _, block_hash = compute_block_section_hash(out["block"])
    signing = compute_statement_signing_bytes(parse_statement(out), block_hash)
    out["signature"] = chain.key("saic").sign(signing).hex()
    return out


def test_statement_cannot_vouch_for_the_future(node_chain: NodeChain) -> None:
    # Signed today for the whole year, a statement said "no others" of releases to come.
    run_case(node_chain, notice_delay_ms=0)
    year_end = node_chain.now_ms + 365 * DAY_MS
    doc = build_oem_statement(
        node_chain.sdk(), node_chain.key("saic"), "saic", "saic:1", 0, year_end
    )
    block = node_chain.get(f"/blocks/{doc['proof_height']}")
    assert doc["until_ms"] <= block["time_ms"] + 1 < year_end  # cut at what the state covers
    t = trust(node_chain, doc)
    assert verify_oem_statement(doc, t).until_ms == doc["until_ms"]
    forged = resign(node_chain, doc, until_ms=year_end)
    with pytest.raises(InvalidProof) as caught:
        verify_oem_statement(forged, t)
    assert caught.value.fields["link"] == "window"
    edge = resign(node_chain, doc, until_ms=doc["until_ms"] + 1)  # one ms past the edge
    with pytest.raises(InvalidProof):
        verify_oem_statement(edge, t)
    with pytest.raises(InvalidBody):  # a window wholly in the future has nothing to state
        build_oem_statement(
            node_chain.sdk(), node_chain.key("saic"), "saic", "saic:1", year_end - 1, year_end
        )


def test_dropped_or_edited_entry_fails(node_chain: NodeChain) -> None:
    run_case(node_chain, notice_delay_ms=0)
    doc = statement(node_chain)
    t = trust(node_chain, doc)
    dropped = copy.deepcopy(doc)
    dropped["log_entries"].pop(len(dropped["log_entries"]) // 2)
    with pytest.raises(InvalidProof):
        verify_oem_statement(dropped, t)
    edited = copy.deepcopy(doc)
    value = bytearray(bytes.fromhex(edited["log_entries"][-1]["value"]))
    value[-1] ^= 1
    edited["log_entries"][-1]["value"] = value.hex()
    with pytest.raises(InvalidProof):
        verify_oem_statement(edited, t)
    no_case = copy.deepcopy(doc)
    no_case["cases"] = []
    with pytest.raises(InvalidProof):
        verify_oem_statement(no_case, t)
    window = copy.deepcopy(doc)
    window["from_ms"] += 1  # signed fields: the signature no longer matches
    with pytest.raises(InvalidSignature):
        verify_oem_statement(window, t)
    with pytest.raises(UntrustedHeader):
        verify_oem_statement(doc, BlockTrust(trusted_hash=b"\x01" * 32))
    for raw in ([], "x", None, {"format": "other"}):
        with pytest.raises(MalformedBundle):
            verify_oem_statement(raw, t)


@pytest.mark.parametrize(
    ("field", "value"), [("from_ms", 2**70), ("height", 2**64), ("first_seq", -1)]
)
def test_statement_numbers_out_of_range_are_malformed(
    node_chain: NodeChain, field: str, value: int
) -> None:
    # Past msgpack's integers a number reached the signed bytes' encoder: OverflowError.
    run_case(node_chain, notice_delay_ms=0)
    doc = statement(node_chain)
    with pytest.raises(MalformedBundle):
        verify_oem_statement(doc | {field: value}, trust(node_chain, doc))


def test_statement_signed_by_another_key_fails(node_chain: NodeChain) -> None:
    run_case(node_chain, notice_delay_ms=0)
    with pytest.raises(Unauthorized):
        build_oem_statement(node_chain.sdk(), node_chain.key("geely"), "saic", "saic:1", 0, 10)
    with pytest.raises(Unauthorized):
        build_oem_statement(node_chain.sdk(), node_chain.key("geely"), "geely", "saic:1", 0, 10)


def test_refused_while_a_sealed_case_touches_the_car(node_chain: NodeChain) -> None:
    case_id = run_case(node_chain, notice_delay_ms=30 * DAY_MS)
    with pytest.raises(SealedCasePending):
        statement(node_chain)
    untouched = build_oem_statement(
        node_chain.sdk(), node_chain.key("geely"), "geely", "geely:1", 0, node_chain.now_ms
    )
    assert verify_oem_statement(untouched, trust(node_chain, untouched)).cases == []
    # Once the notice is due, the statement can be issued and lists it.
    node_chain.advance_to(get_case(node_chain, case_id).notice_due_ms)  # type: ignore[arg-type]
    node_chain.tick()
    doc = statement(node_chain)
    checked = verify_oem_statement(doc, trust(node_chain, doc))
    assert [c.case_id for c, _ in checked.cases] == [case_id]


def test_release_audit_passes_for_chain_releases(node_chain: NodeChain) -> None:
    run_case(node_chain)
    second = run_case(node_chain, notice_delay_ms=DAY_MS)
    node_chain.send("police", CloseCase(second))
    audit = verify_oem_releases(node_chain.sdk(), "saic")
    assert [(r.case_id, r.shares) for r in audit.releases] == [(1, 2), (2, 2)]
    assert all(r.court == "court2" and r.approvals == 3 for r in audit.releases)
    assert verify_oem_releases(node_chain.sdk(), "geely").releases == []


@pytest.fixture
def released(chain: CoreChain) -> CoreChain:
    setup_world(chain)
    case_id = authorized_case(chain)
    approve(chain, case_id, "court", "caam", "audit")
    chain.send("caam", release_body(case_id, item(index=2)))
    return chain


def _tamper_case(chain: CoreChain, **changes: Any) -> None:
    case = msgspec.structs.replace(get_case(chain), **changes)
    put_record(chain.state, STORE, compute_key("c", 1), case)


@pytest.mark.parametrize(
    "changes",
    [
        {"approvals": []},  # no quorum
        {"court": ""},  # never authorised by a court
        {"expires_ms": 1},  # released after expiry
        {"state": "open"},
    ],
)
def test_release_audit_refuses_a_release_without_its_conditions(
    released: CoreChain, changes: dict[str, Any]
) -> None:
    assert check_release(released.state, "saic", ReleasePointer(1, 0)).shares == 1  # type: ignore[arg-type]
    _tamper_case(released, **msgspec.convert(changes, dict[str, Any]))
    with pytest.raises(InvalidProof):
        check_release(released.state, "saic", ReleasePointer(1, 0))  # type: ignore[arg-type]


def test_release_audit_refuses_out_of_scope_and_wrong_seat(released: CoreChain) -> None:
    narrow = msgspec.structs.replace(get_case(released).scope, vehicles=["saic:2"])
    _tamper_case(released, scope=narrow)
    with pytest.raises(InvalidProof, match="scope"):
        check_release(released.state, "saic", ReleasePointer(1, 0))  # type: ignore[arg-type]
    with pytest.raises(InvalidProof):
        check_release(released.state, "saic", ReleasePointer(1, 5))  # type: ignore[arg-type]
    assert isinstance(get_case(released), Case)
