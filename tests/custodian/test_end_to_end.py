"""Lawful access end to end on the solo engine and a real gateway: a case is opened over
two of three cars, authorised narrowed to one category, 3 of 4 custodians approve, their
custodian services release by themselves, and the officer decrypts exactly the scoped
data — both days, both cars, location only — checked against the chain, then receipts.
Another officer's key opens no release and reads no segment."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from carchain.core.case_records import DAY_MS, CaseScope
from carchain.core.cases import get_case
from carchain.data.batches import compute_header_hash, decode_submitted
from carchain.errors import CarchainError, Unauthorized
from carchain.sdk import cases
from carchain.sdk.case_gateway import CaseGatewayClient
from carchain.sdk.cases import CaseClient
from carchain.sdk.chainview import ChainView
from carchain.sdk.officer import (
    collect_shares,
    compute_case_receipts,
    fetch_case_data,
    get_committee_getter,
    post_case_receipts,
)
from carchain.sim.case_world import CaseWorld, make_key, open_case_world
from tests.dataplane import wait_for

CARS = ["saic:1", "saic:2", "saic:3"]
IN_SCOPE = ["saic:1", "saic:2"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaseWorld]:
    w = open_case_world(tmp_path_factory.mktemp("case-e2e"), cars=3, past_days=2)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture(scope="module")
def uploaded(world: CaseWorld) -> dict[str, list[bytes]]:
    """Each car's batches of yesterday (noon) and today (10 minutes ago): header hashes."""
    now = int(time.time() * 1000)
    today = now // DAY_MS * DAY_MS
    out: dict[str, list[bytes]] = {}
    for vid in CARS:
        ups = world.upload_at(vid, today - DAY_MS // 2) + world.upload_at(
            vid, max(today, now - 600_000)
        )
        out[vid] = [compute_header_hash(decode_submitted(u.body).header) for u in ups]
    world.wait_anchored()
    return out


def window() -> tuple[int, int]:
    today = int(time.time() * 1000) // DAY_MS * DAY_MS
    return today - DAY_MS, today + DAY_MS


def test_open_authorise_approve_release_decrypt_receipt(
    world: CaseWorld, uploaded: dict[str, list[bytes]]
) -> None:
    start, end = window()
    case_id = world.open_case(CaseScope(IN_SCOPE, ["location", "motion"], start, end))
    scope = CaseScope(IN_SCOPE, ["location"], start, end)  # the court narrows
    world.authorize(case_id, scope)
    world.approve(case_id, "court", "caam", "audit")
    for m in ("court", "caam", "audit"):
        world.start_custodian(m)
    view = ChainView(world.client)
    expected_shares = len(IN_SCOPE) * 2 * 3  # cars x epochs x custodians (location only)
    wait_for(lambda: get_case(view, case_id).released_keys >= expected_shares, 60, "releases")
    assert get_case(view, case_id).released_keys == expected_shares

    officer = make_key("officer")
    assert world.gateway is not None
    with CaseGatewayClient(world.gateway.url, signer=officer) as gw:
        fetch = fetch_case_data(lambda oem: gw, world.client, case_id, officer)
    got = {(s.vehicle_id, s.segment.header_hash, s.segment.category) for s in fetch.segments}
    want = {(v, h, "location") for v in IN_SCOPE for h in uploaded[v]}
    assert got == want and fetch.missing_keys == []
    for s in fetch.segments:  # the plaintext is the car's: positions, nothing else
        fields = [p.fields for p in s.segment.projections]
        assert fields and all(set(f) == {"lat", "lon"} for f in fields)
        assert fields[0]["lon"] == 121.4
    answers = post_case_receipts(world.client, officer, compute_case_receipts(fetch))
    assert len(answers) == len(IN_SCOPE)
    with CaseClient(world.node.url) as c:
        receipts = c.case_receipts(case_id)["receipts"]
    assert {r["vehicle_id"] for r in receipts} == set(IN_SCOPE)
    assert sum(len(r["items"]) for r in receipts) == len(want)
    # a second fetch posts nothing twice
    with CaseGatewayClient(world.gateway.url, signer=officer) as gw:
        again = fetch_case_data(lambda oem: gw, world.client, case_id, officer)
    assert post_case_receipts(world.client, officer, compute_case_receipts(again)) == []


def test_invalid_another_officer_cannot_open_releases_or_read_segments(
    world: CaseWorld, uploaded: dict[str, list[bytes]]
) -> None:
    case_id = 1
    view = ChainView(world.client)
    wait_for(lambda: get_case(view, case_id).released_keys > 0, 60, "releases")
    stranger = make_key("officer-of-another-authority")
    case = get_case(view, case_id)
    # No box opens for it (each is left out, as a custodian's garbage box would be).
    assert collect_shares(view, case, stranger, get_committee_getter(view)) == {}
    assert world.gateway is not None
    with CaseGatewayClient(world.gateway.url, signer=stranger) as gw:
        with pytest.raises(Unauthorized):
            fetch_case_data(lambda oem: gw, world.client, case_id, stranger)
        header = uploaded["saic:1"][0]
        for read in (
            lambda: gw.case_segment_ciphertext(case_id, header, "location"),
            lambda: gw.case_batch_proof(case_id, header),
            lambda: gw.case_batches(case_id, "saic:1", 0, 2**62),
        ):
            with pytest.raises(CarchainError) as info:
                read()
            assert info.value.http_status in (401, 403)


def test_invalid_the_officer_gets_nothing_outside_the_scope(
    world: CaseWorld, uploaded: dict[str, list[bytes]]
) -> None:
    case_id = 1
    officer = make_key("officer")
    assert world.gateway is not None
    with CaseGatewayClient(world.gateway.url, signer=officer) as gw:
        outside = uploaded["saic:3"][0]
        with pytest.raises(CarchainError):
            gw.case_segment_ciphertext(case_id, outside, "location")
        inside = uploaded["saic:1"][0]
        with pytest.raises(CarchainError):
            gw.case_segment_ciphertext(case_id, inside, "motion")  # opened, not authorised
    shares = collect_shares(ChainView(world.client), get_case(ChainView(world.client), case_id),
                            officer, get_committee_getter(ChainView(world.client)))  # fmt: skip
    assert {k[0] for k in shares} == set(IN_SCOPE) and {k[2] for k in shares} == {"location"}


def test_invalid_two_releases_of_k_three_decrypt_nothing(
    world: CaseWorld, uploaded: dict[str, list[bytes]]
) -> None:
    """Quorum by court, caam and saic: the running services of court and caam release,
    audit's does not (it did not approve) and saic runs none: two shares per key, so the
    officer combines nothing and decrypts nothing."""
    start, end = window()
    scope = CaseScope(["saic:1"], ["location"], start, end)
    case_id = world.open_case(scope)
    world.authorize(case_id, scope)
    world.approve(case_id, "court", "caam", "saic")
    if not world.runners:  # run alone: start the three services of the first test
        for m in ("court", "caam", "audit"):
            world.start_custodian(m)
    view = ChainView(world.client)
    wait_for(lambda: get_case(view, case_id).released_keys >= 2 * 2, 60, "two custodians")
    audit = next(r for r in world.runners if r.service and r.service.member_id == "audit")
    assert audit.service is not None
    wait_for(lambda: audit.service.journal.get_task_optional(case_id) is not None, 30, "audit")
    officer = make_key("officer")
    assert world.gateway is not None
    with CaseGatewayClient(world.gateway.url, signer=officer) as gw:
        fetch = fetch_case_data(lambda oem: gw, world.client, case_id, officer)
    assert fetch.segments == []
    assert sorted(fetch.missing_keys) == sorted(
        {("saic:1", e, "location") for e in (start // DAY_MS, start // DAY_MS + 1)}
    )
    assert {r.custodian for r in cases.get_releases(view, case_id)} == {"court", "caam"}
