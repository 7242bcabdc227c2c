"""The notice queue against a model: with random delays, extensions and block times
(within the per-block bounds), every case is noticed at the end of the first block whose
time is at or past its current due time: never before, never later."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carchain.core.case_records import DAY_MS, CaseScope
from carchain.core.genesis import Genesis
from tests.conftest import FOUNDERS, make_genesis
from tests.core import case_world as cw
from tests.core.erasure_world import EXTRA_MEMBERS, advance_to, register
from tests.core.memory import open_core_chain

HOUR = 3_600_000
SCOPE = CaseScope(["saic:1"], ["location"], 0, DAY_MS)

# Per case: delay (hours), an optional extension (extra hours); then block time steps.
cases_st = st.lists(
    st.tuples(st.integers(0, 20 * 24), st.one_of(st.none(), st.integers(1, 10 * 24))),
    min_size=1,
    max_size=4,
)
steps_st = st.lists(st.integers(1, 3 * 24), min_size=1, max_size=12)


def _genesis() -> Genesis:
    return make_genesis(founders=FOUNDERS + EXTRA_MEMBERS)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=cases_st, steps=steps_st)
def test_noticed_exactly_at_the_first_block_past_due(
    cases: list[tuple[int, int | None]], steps: list[int]
) -> None:
    chain = open_core_chain(_genesis())
    register(chain, "saic:1")
    due: dict[int, int] = {}
    for i, (delay_h, extra_h) in enumerate(cases, start=1):
        cw.open_case(chain, i, SCOPE)
        case = cw.authorize(chain, i, delay_ms=delay_h * HOUR)
        due[i] = case.notice_due_ms
        if extra_h is not None and not cw.get_case(chain, i).noticed:
            due[i] = cw.extend(chain, (delay_h + extra_h) * HOUR, i).notice_due_ms
    for step_h in steps:
        advance_to(chain, chain.now_ms + 1000 + step_h * HOUR)
        chain.block()
        for i, t in due.items():
            assert cw.get_case(chain, i).noticed == (chain.now_ms >= t), (i, t, chain.now_ms)
