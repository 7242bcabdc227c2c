"""Delayed notice: nothing of a case in a vehicle's log before ``notice_due_ms``; at the
first block at or past it the chain itself appends the notice; an extension moves it;
an idle chain catches up within bounded work per block."""

from __future__ import annotations

import pytest

from carchain.core import access_log, case_notice
from carchain.core.case_records import DAY_MS, STORE, CaseScope
from tests.core import case_world as cw
from tests.core.erasure_world import advance_to, erasure_genesis, register  # noqa: F401
from tests.core.memory import CoreChain, core_chain  # noqa: F401

DELAY = 10 * DAY_MS


@pytest.fixture(name="world")
def case_chain(chain: CoreChain) -> CoreChain:
    register(chain, "saic:1")
    register(chain, "saic:2")
    return chain


def kinds(chain: CoreChain, vid: str) -> list[str]:
    return [e.kind for e in reversed(access_log.get_access_log_page(chain.state, vid, limit=100))]


def case_kinds(chain: CoreChain, vid: str) -> list[str]:
    return [k for k in kinds(chain, vid) if k.startswith("case_")]


def test_notice_appears_at_due_time_and_not_one_block_before(world: CoreChain) -> None:
    cw.open_case(world)
    case = cw.authorize(world, delay_ms=DELAY)
    cw.release(world, [("saic:1", 0, "location"), ("saic:1", 1, "location")])
    before = kinds(world, "saic:1")
    advance_to(world, case.notice_due_ms - 1)
    world.block()
    assert kinds(world, "saic:1") == before  # one millisecond early: nothing
    assert not cw.get_case(world, 1).noticed
    world.block()  # this block's time is past the due time
    assert case_kinds(world, "saic:1") == ["case_notice"]
    assert case_kinds(world, "saic:2") == ["case_notice"]
    assert cw.get_case(world, 1).noticed


def test_notice_at_exactly_due_time(world: CoreChain) -> None:
    cw.open_case(world)
    case = cw.authorize(world, delay_ms=DELAY)
    advance_to(world, case.notice_due_ms)
    world.block()
    assert case_kinds(world, "saic:1") == ["case_notice"]


def test_notice_names_case_basis_court_and_releases(world: CoreChain) -> None:
    cw.open_case(world)
    case = cw.authorize(world, delay_ms=DELAY)
    first = cw.release(world, [("saic:1", 0, "location"), ("saic:2", 0, "diagnostics")])
    last = cw.release(world, [("saic:1", 1, "diagnostics")], custodian="court2")
    advance_to(world, case.notice_due_ms)
    world.block()
    (notice,) = [
        e for e in access_log.get_access_log_page(world.state, "saic:1") if e.kind == "case_notice"
    ]
    police = world.key("police").public_key
    assert (notice.actor, notice.actor_member, notice.ref) == (police, "police", 1)
    assert notice.categories == ["diagnostics", "location"]
    assert notice.detail == (
        f"case_ref={cw.CASE_REF.hex()};basis=rtsl_accident;court=court1;keys=2;"
        f"first_ms={first.time_ms};last_ms={last.time_ms}"
    )
    other = access_log.get_access_log_page(world.state, "saic:2", limit=1)[0]
    assert (other.kind, other.categories) == ("case_notice", ["diagnostics"])
    assert "keys=1;" in other.detail


def test_nothing_of_a_sealed_case_in_logs_before_notice(world: CoreChain) -> None:
    sizes = {v: access_log.get_log_size(world.state, v) for v in ("saic:1", "saic:2")}
    oem_size = access_log.get_oem_log_size(world.state, "saic")
    first_block = len(world.finalized)
    cw.open_case(world)
    case = cw.authorize(world, delay_ms=DELAY)
    cw.vote(world, "auditor")
    cw.vote(world, "court2", approve=False)
    cw.release(world, [("saic:1", 0, "location")])
    cw.extend(world, DELAY + DAY_MS)
    advance_to(world, case.notice_due_ms)
    world.block()
    for vid, size in sizes.items():
        assert access_log.get_log_size(world.state, vid) == size
    assert access_log.get_oem_log_size(world.state, "saic") == oem_size
    # Nor any block event naming a vehicle (the hooks emit none).
    for result in world.finalized[first_block:]:
        for tx in result.tx_results:
            for event in tx.events:
                assert "saic:1" not in event.attributes.values()


def test_release_after_notice_is_logged_at_once(world: CoreChain) -> None:
    cw.open_case(world)
    case = cw.authorize(world, delay_ms=0)
    assert case.notice_due_ms == case.authorized_ms
    assert case_kinds(world, "saic:1") == ["case_notice"]  # noticed at its own block's end
    cw.release(world, [("saic:1", 0, "location"), ("saic:1", 1, "location")])
    event = access_log.get_access_log_page(world.state, "saic:1", limit=1)[0]
    assert (event.kind, event.actor_member, event.ref) == ("case_release", "auditor", 1)
    assert (event.categories, event.detail) == (["location"], "release=0;keys=2")
    assert case_kinds(world, "saic:2") == ["case_notice"]  # untouched by that release


def test_extension_moves_the_notice(world: CoreChain) -> None:
    cw.open_case(world)
    case = cw.authorize(world, delay_ms=DELAY)
    extended = cw.extend(world, DELAY + 5 * DAY_MS)
    assert extended.notice_due_ms == case.notice_due_ms + 5 * DAY_MS
    advance_to(world, case.notice_due_ms + DAY_MS)
    world.block()
    assert case_kinds(world, "saic:1") == []  # the stale entry is skipped
    advance_to(world, extended.notice_due_ms - 1)
    world.block()
    assert case_kinds(world, "saic:1") == []
    world.block()
    assert case_kinds(world, "saic:1") == ["case_notice"]


def test_extension_within_the_same_day_is_not_noticed_early(world: CoreChain) -> None:
    cw.open_case(world)
    case = cw.authorize(world, delay_ms=DELAY)
    extended = cw.extend(world, DELAY + 60_000)
    advance_to(world, case.notice_due_ms + 30_000)
    world.block()
    assert case_kinds(world, "saic:1") == []
    advance_to(world, extended.notice_due_ms)
    world.block()
    assert case_kinds(world, "saic:1") == ["case_notice"]


def test_a_later_due_earlier_in_the_day_is_not_blocked(world: CoreChain) -> None:
    # Case 1 due at 20:00 of day D, case 2 scheduled later but due at 01:00 of day D.
    cw.open_case(world, 1)
    cw.open_case(world, 2, CaseScope(["saic:2"], ["location"], 0, DAY_MS))
    day = (world.now_ms // DAY_MS + 12) * DAY_MS
    advance_to(world, world.now_ms + 2000)
    c1 = cw.authorize(world, 1, delay_ms=day + 20 * 3_600_000 - (world.now_ms + 1000))
    c2 = cw.authorize(world, 2, delay_ms=day + 3_600_000 - (world.now_ms + 1000))
    assert c1.notice_due_ms // DAY_MS == c2.notice_due_ms // DAY_MS
    advance_to(world, c2.notice_due_ms)
    world.block()
    assert cw.get_case(world, 2).noticed
    assert not cw.get_case(world, 1).noticed
    advance_to(world, c1.notice_due_ms)
    world.block()
    assert cw.get_case(world, 1).noticed


def test_closed_case_is_still_noticed(world: CoreChain) -> None:
    cw.open_case(world)
    case = cw.authorize(world, delay_ms=DELAY)
    cw.close(world)
    advance_to(world, case.notice_due_ms)
    world.block()
    assert case_kinds(world, "saic:1") == ["case_notice"]


def test_idle_chain_catches_up_with_bounded_work(world: CoreChain) -> None:
    # Six cases, each due on its own day; the chain then sleeps 200 days.
    scope = CaseScope(["saic:1"], ["location"], 0, DAY_MS)
    for i in range(1, 7):
        cw.open_case(world, i, scope)
        cw.authorize(world, i, delay_ms=i * 20 * DAY_MS)
    advance_to(world, world.now_ms + 200 * DAY_MS)
    world.block()
    noticed = sum(cw.get_case(world, i).noticed for i in range(1, 7))
    # At most MAX_DAYS_PER_BLOCK day buckets were visited: only the first case's day.
    assert 1 <= noticed <= case_notice.MAX_NOTICES_PER_BLOCK
    assert noticed < 6
    for _ in range(10):
        world.block()
    assert all(cw.get_case(world, i).noticed for i in range(1, 7))
    assert case_kinds(world, "saic:1") == ["case_notice"] * 6


def test_many_cases_due_at_once_spread_over_blocks(world: CoreChain) -> None:
    scope = CaseScope(["saic:1"], ["location"], 0, DAY_MS)
    n = case_notice.MAX_NOTICES_PER_BLOCK * 2 + 1
    for i in range(1, n + 1):
        cw.open_case(world, i, scope)
    due = world.now_ms + 5 * DAY_MS
    for i in range(1, n + 1):
        cw.authorize(world, i, delay_ms=due - (world.now_ms + 1000))
    advance_to(world, due)
    world.block()
    assert case_kinds(world, "saic:1").count("case_notice") == case_notice.MAX_NOTICES_PER_BLOCK
    world.block()
    world.block()
    assert case_kinds(world, "saic:1").count("case_notice") == n


def test_block_with_nothing_due_writes_nothing(world: CoreChain) -> None:
    cw.open_case(world)
    case = cw.authorize(world, delay_ms=DELAY)
    snapshot = world.state.snapshot(skip=("accounts",))
    advance_to(world, case.notice_due_ms - 1)
    world.block()
    assert world.state.snapshot(skip=("accounts",)) == snapshot
    assert world.state.get(STORE, case_notice.compute_bucket_key(case.notice_due_ms // DAY_MS))
