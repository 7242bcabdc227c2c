"""The overdue queue against its specification, over random histories: after every
block, no open request's deadline lies before the block's time, no request is marked
overdue before its deadline, and each OEM's overdue count is the number of its requests
that are overdue now."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carchain.core import erasure as er
from carchain.core import holds
from carchain.core.deadlines import DAY_MS
from tests.conftest import FOUNDERS, make_genesis
from tests.core.erasure_world import (
    EXTRA_MEMBERS,
    OWNER,
    complete_body,
    place_body,
    register,
    request_body,
)
from tests.core.memory import CoreChain, open_core_chain

VEHICLES = ("saic:1", "geely:1")
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["request", "complete", "place", "lift", "wait"]),
        st.sampled_from([0, 0, 0, 1]),  # which vehicle
        st.integers(min_value=0, max_value=1),  # which seq
        st.sampled_from([0, 1000, DAY_MS, 3 * DAY_MS, 7 * DAY_MS, 15 * DAY_MS]),  # block wait
    ),
    min_size=4,
    max_size=30,
)


def _send_if_ok(chain: CoreChain, signer: str, body: object) -> None:
    # Rule failures (a hold not in force, an erasure under a hold...) are part of the model.
    if chain.submit(chain.build(signer, body)).ok:  # type: ignore[arg-type]
        chain.block()


def _apply(chain: CoreChain, op: str, vid: str, seq: int) -> None:
    if op == "request":
        _send_if_ok(chain, OWNER, request_body(vid=vid))  # type: ignore[arg-type]
    elif op == "complete":
        _send_if_ok(chain, vid.split(":")[0], complete_body(vid=vid, seq=seq))
    elif op == "place":
        _send_if_ok(chain, "court1", place_body(vid=vid))
    elif op == "lift":
        _send_if_ok(chain, "court1", holds.LiftHold(vid, seq))
    else:
        chain.block()


def _check(chain: CoreChain) -> None:
    now = chain.now_ms
    for oem in ("saic", "geely"):
        vid = f"{oem}:1"
        erasures = er.get_erasures(chain.state, vid)
        for e in erasures:
            if e.status == "open":
                assert e.deadline_ms >= now, e
            if e.status == "overdue":
                assert e.deadline_ms < now, e
        overdue = sum(1 for e in erasures if e.status == "overdue")
        assert er.get_overdue_count(chain.state, oem) == overdue


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS)
def test_overdue_queue_matches_its_specification(steps: list[tuple[str, int, int, int]]) -> None:
    chain = open_core_chain(make_genesis(founders=FOUNDERS + EXTRA_MEMBERS))
    for vid in VEHICLES:
        register(chain, vid)
    for op, v, seq, wait in steps:
        chain.now_ms += wait
        _apply(chain, op, VEHICLES[v], seq)
        _check(chain)
