"""Transparency counters: per quarter of block time and per OEM and year, every number a
state key listed in its scope's index; they match the cases made."""

from __future__ import annotations

import datetime

import pytest

from carchain.core import transparency as tr
from carchain.core.case_records import DAY_MS, CaseScope
from tests.core import case_world as cw
from tests.core.erasure_world import advance_to, erasure_genesis, register  # noqa: F401
from tests.core.memory import CoreChain, core_chain  # noqa: F401


def ms(y: int, m: int, d: int, h: int = 0) -> int:
    dt = datetime.datetime(y, m, d, h, tzinfo=datetime.UTC)
    return int(dt.timestamp() * 1000)


@pytest.fixture(name="world")
def case_chain(chain: CoreChain) -> CoreChain:
    register(chain, "saic:1")
    register(chain, "saic:2")
    register(chain, "geely:1")
    advance_to(chain, ms(2026, 11, 2))
    chain.block()
    return chain


@pytest.mark.parametrize(
    ("when", "quarter"),
    [
        (ms(2026, 1, 1), "2026Q1"),
        (ms(2026, 3, 31, 23) + 3_599_999, "2026Q1"),
        (ms(2026, 4, 1), "2026Q2"),
        (ms(2026, 9, 30, 12), "2026Q3"),
        (ms(2026, 12, 31, 23), "2026Q4"),
        (ms(2027, 1, 1), "2027Q1"),
        (0, "1970Q1"),
    ],
)
def test_quarter_of_block_time_utc(when: int, quarter: str) -> None:
    assert tr.compute_quarter(when) == quarter


def q(chain: CoreChain, period: str = "2026Q4") -> dict[str, int]:
    return tr.get_counters(chain.state, tr.compute_quarter_scope(period))


def test_counts_match_the_cases_made(world: CoreChain) -> None:
    cw.open_case(world, 1)
    both = CaseScope(["geely:1", "saic:1"], ["location"], 0, DAY_MS)
    cw.open_case(world, 2, both)
    advance_to(world, world.now_ms + 3 * DAY_MS)
    case = cw.authorize(world, 1, delay_ms=20 * DAY_MS)
    cw.vote(world, "auditor")
    cw.vote(world, "court2", approve=False)
    cw.release(world, [("saic:1", 0, "location"), ("saic:2", 0, "location")])
    cw.extend(world, 40 * DAY_MS)
    counts = q(world)
    assert counts["state/open"] == 2
    assert counts["state/authorized"] == 1
    assert counts["authority/police"] == 2
    assert counts["basis/rtsl_accident"] == 2
    assert (counts["oem/saic"], counts["oem/geely"]) == (2, 1)
    assert (counts["category/location"], counts["category/diagnostics"]) == (2, 1)
    assert counts["court/court1"] == 1
    assert counts["approvals"] == 1
    assert (counts["declines"], counts["decline_reason/scope_too_broad"]) == (1, 1)
    assert counts["shares_released"] == 2
    wait = case.authorized_ms - case.opened_ms
    assert 3 * DAY_MS <= wait <= 4 * DAY_MS
    assert counts["open_to_authorize/count"] == 1
    assert counts["open_to_authorize/sum_ms"] == wait
    assert counts["open_to_authorize/le_7d"] == 1
    assert counts["notice_delay/count"] == 1
    assert counts["notice_delay/sum_ms"] == 20 * DAY_MS
    assert counts["notice_delay/le_30d"] == 1
    assert counts["notice_delay/extensions"] == 1
    assert counts["notice_delay/extended_ms"] == 20 * DAY_MS
    # Nothing was counted that did not happen.
    assert "state/closed" not in counts
    assert "state/rejected" not in counts
    assert "notices" not in counts


def test_every_counter_is_indexed_once(world: CoreChain) -> None:
    cw.open_case(world, 1)
    cw.authorize(world, 1)
    scope = tr.compute_quarter_scope("2026Q4")
    names = tr.get_counter_names(world.state, scope)
    assert len(names) == len(set(names))
    stored = {
        key.decode().removeprefix(f"t/{scope}/")
        for (store, key) in world.state.data
        if store == "lawful_access" and key.startswith(f"t/{scope}/".encode())
    }
    assert set(names) == stored


def test_quarter_boundary_splits_counts(world: CoreChain) -> None:
    advance_to(world, ms(2026, 12, 31, 23))
    cw.open_case(world, 1)
    advance_to(world, ms(2027, 1, 1, 1))
    cw.authorize(world, 1, delay_ms=0)
    assert q(world)["state/open"] == 1
    assert "state/authorized" not in q(world)
    assert q(world, "2027Q1")["state/authorized"] == 1
    assert q(world, "2027Q1")["notices"] == 1  # the notice is counted in its own quarter
    assert "state/open" not in q(world, "2027Q1")


def test_annual_oem_counters(world: CoreChain) -> None:
    both = CaseScope(["geely:1", "saic:1", "saic:2"], ["diagnostics", "location"], 0, DAY_MS)
    cw.open_case(world, 1, both)
    cw.authorize(world, 1, delay_ms=0)
    cw.release(
        world, [("saic:1", 0, "location"), ("saic:2", 0, "location"), ("geely:1", 0, "location")]
    )
    saic = tr.get_counters(world.state, tr.compute_year_scope(2026, "saic"))
    assert saic["cases_opened"] == 1
    assert saic["cases_authorized"] == 1
    assert saic["vehicles"] == 2
    assert saic["shares_released"] == 2
    assert saic["owners_notified"] == 2
    assert saic["basis/rtsl_accident"] == 1
    assert saic["authority/police"] == 1
    assert saic["court/court1"] == 1
    assert saic["category/location"] == 1
    geely = tr.get_counters(world.state, tr.compute_year_scope(2026, "geely"))
    assert (geely["vehicles"], geely["shares_released"]) == (1, 1)
    assert tr.get_counters(world.state, tr.compute_year_scope(2026, "bosch")) == {}


def test_buckets() -> None:
    assert tr.compute_bucket(tr.NOTICE_DELAY_BUCKETS, 0) == "le_0d"
    assert tr.compute_bucket(tr.NOTICE_DELAY_BUCKETS, 1) == "le_7d"
    assert tr.compute_bucket(tr.NOTICE_DELAY_BUCKETS, 180 * DAY_MS) == "le_180d"
    assert tr.compute_bucket(tr.NOTICE_DELAY_BUCKETS, 180 * DAY_MS + 1) == "gt_180d"
    assert tr.compute_bucket(tr.OPEN_TO_AUTHORIZE_BUCKETS, 31 * DAY_MS) == "gt_30d"


@pytest.mark.parametrize(
    "when",
    [0, 1, DAY_MS - 1, ms(2000, 2, 29), ms(1999, 12, 31, 23), ms(2026, 11, 2), ms(2100, 3, 1)]
    + [ms(1970, 1, 1) + i * 37 * DAY_MS + i * 3_599_999 for i in range(400)],
)
def test_civil_date_matches_the_calendar(when: int) -> None:
    date = datetime.datetime.fromtimestamp(when / 1000, tz=datetime.UTC).date()
    assert tr.compute_date(when) == (date.year, date.month, date.day)
