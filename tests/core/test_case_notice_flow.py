"""Delayed notice through the real transactions: case.open -> authorize -> approve ->
escrow.release -> extend_notice; nothing in the owner's log until the (extended) due
time, then the notice and the erasure its hold is holding; the counters match."""

from __future__ import annotations

import pytest

from carchain.core import access_log, case_holds, case_index, transparency
from carchain.core import erasure as er
from carchain.core.case_records import DAY_MS, CloseCase, ExtendNotice
from tests.core.erasure_world import advance_to
from tests.core.lawful_world import (
    EPOCH_MS,
    approve,
    authorized_case,
    genesis,  # noqa: F401
    get_case,
    item,
    release_body,
    setup_world,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401

DELAY = 60 * DAY_MS


@pytest.fixture
def world(chain: CoreChain) -> CoreChain:
    return setup_world(chain)


def log_kinds(chain: CoreChain, vid: str = "saic:1") -> list[str]:
    page = access_log.get_access_log_page(chain.state, vid, limit=100)
    return [e.kind for e in reversed(page)]


def request_erasure(chain: CoreChain) -> None:
    body = er.RequestErasure("saic:1", ["location"], EPOCH_MS, EPOCH_MS + DAY_MS)
    chain.send(chain.key("owner-a"), body)


def test_sealed_until_due_then_notice_and_held_erasure(world: CoreChain) -> None:
    case_id = authorized_case(world, notice_delay_ms=DELAY)
    approve(world, case_id, "court", "caam", "audit")
    world.send("caam", release_body(case_id, item(index=2), item("saic:2", index=2)))
    request_erasure(world)  # held by the case's sealed hold: no held event yet
    assert er.get_erasure(world.state, "saic:1", 0).status == "held"
    assert log_kinds(world) == ["erasure_request"]
    world.send("court2", ExtendNotice(case_id, DELAY + 10 * DAY_MS))
    case = get_case(world, case_id)
    assert case.notice_extensions == 1
    advance_to(world, case.authorized_ms + DELAY)  # the first due time: now stale
    world.block()
    assert log_kinds(world) == ["erasure_request"]
    advance_to(world, case.notice_due_ms - 1)
    world.block()
    assert log_kinds(world) == ["erasure_request"]
    world.block()
    assert log_kinds(world) == ["erasure_request", "case_notice", "erasure_held"]
    notice, held = access_log.get_access_log_page(world.state, "saic:1", limit=2)[::-1]
    assert notice.detail.startswith(f"case_ref={case.case_ref.hex()};basis=rtsl_accident;")
    assert ";court=court2;keys=1;" in notice.detail
    assert notice.categories == ["crash_pulse"]
    assert (held.ref, held.actor_member) == (0, "court2")
    hold_seq = case_holds.get_case_hold_seq_optional(world.state, case_id, "saic:1")
    assert held.detail == f"hold={hold_seq};case={case_id}"
    assert log_kinds(world, "saic:2") == ["case_notice"]
    assert log_kinds(world, "geely:1") == []


def test_release_after_notice_appears_as_case_release(world: CoreChain) -> None:
    case_id = authorized_case(world, notice_delay_ms=0)
    assert log_kinds(world) == ["case_notice"]
    approve(world, case_id, "court", "caam", "audit")
    world.send("caam", release_body(case_id, item(index=2)))
    event = access_log.get_access_log_page(world.state, "saic:1", limit=1)[0]
    assert (event.kind, event.actor_member, event.categories) == (
        "case_release",
        "caam",
        ["crash_pulse"],
    )
    assert event.actor == world.key("caam").public_key


def test_counters_match_the_transactions(world: CoreChain) -> None:
    case_id = authorized_case(world, notice_delay_ms=DELAY)
    approve(world, case_id, "court", "caam", "audit")
    world.send("caam", release_body(case_id, item(index=2), item("saic:2", index=2)))
    world.send("court2", ExtendNotice(case_id, DELAY + DAY_MS))
    world.send("police", CloseCase(case_id))
    period = transparency.compute_quarter(get_case(world, case_id).opened_ms)
    counts = transparency.get_counters(world.state, transparency.compute_quarter_scope(period))
    year = transparency.compute_year(world.now_ms)
    saic = transparency.get_counters(world.state, transparency.compute_year_scope(year, "saic"))
    assert counts["state/open"] == counts["state/authorized"] == counts["state/closed"] == 1
    assert counts["authority/police"] == counts["court/court2"] == 1
    assert counts["oem/saic"] == 1 and "oem/geely" not in counts
    assert counts["approvals"] == 3
    assert counts["shares_released"] == 2
    assert counts["notice_delay/extensions"] == 1
    assert (saic["cases_authorized"], saic["vehicles"], saic["shares_released"]) == (1, 2, 2)
    assert case_index.get_vehicle_releases(world.state, case_id, "saic:1").keys == 1
