"""Erasure on the solo engine: the same blocks reach the same state, results and
overdue marks as the in-memory core (the end-of-block step runs in both), and the
committed state survives a reopen with its app hash."""

from __future__ import annotations

from pathlib import Path

import msgspec

from carchain.core import erasure as er
from carchain.core import holds
from carchain.core.deadlines import DAY_MS
from tests.conftest import FOUNDERS, Chain, make_genesis, open_chain, snapshot
from tests.core.erasure_world import (
    EXTRA_MEMBERS,
    OWNER,
    VID,
    complete_body,
    place_body,
    register,
    request_body,
)
from tests.core.memory import CoreChain, open_core_chain


def drive(chain: Chain | CoreChain) -> list[str]:
    """Request, hold, a refused completion, lift, miss the new deadline, complete late."""
    register(chain)  # type: ignore[arg-type]
    steps: list[tuple[str | object, msgspec.Struct]] = [
        (OWNER, request_body()),
        ("court1", place_body()),
        ("saic", complete_body()),  # legal_hold_active
        ("court1", holds.LiftHold(VID, 0)),
    ]
    codes = []
    for signer, body in steps:
        raw = chain.build(signer, body)  # type: ignore[arg-type]
        assert chain.submit(raw).ok
        codes += [r.error_code for r in chain.block()]
    chain.now_ms += 20 * DAY_MS
    # The solo engine makes no empty blocks: the next block (any transaction) is past the
    # restarted deadline and marks the request overdue at its end.
    assert chain.submit(chain.build(OWNER, request_body(categories=["motion"]))).ok
    codes += [r.error_code for r in chain.block()]
    codes.append(er.get_erasure(chain.app.state, VID, 0).status)
    raw = chain.build("saic", complete_body())
    assert chain.submit(raw).ok
    codes += [r.error_code for r in chain.block()]
    return codes


def test_solo_engine_matches_the_core_on_erasure(tmp_path: Path) -> None:
    genesis = make_genesis(founders=FOUNDERS + EXTRA_MEMBERS)
    solo = open_chain(tmp_path / "solo.db", genesis)
    core = open_core_chain(genesis)
    try:
        codes = drive(core)
        assert codes == drive(solo)
        assert codes == ["", "", "legal_hold_active", "", "", "overdue", ""]
        assert core.state.snapshot() == snapshot(solo.db)
        e = er.get_erasure(solo.app.state, VID, 0)
        assert (e.status, e.late) == ("complete", True)
        assert er.get_overdue_erasures(solo.app.state, "saic") == [(0, e)]
        app_hash = solo.app.info().last_block_app_hash
    finally:
        solo.db.close()
    reopened = open_chain(tmp_path / "solo.db")
    try:
        assert reopened.app.info().last_block_app_hash == app_hash
    finally:
        reopened.db.close()
