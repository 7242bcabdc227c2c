"""The ABCI phase profile: each request's decoding, handling and encoding land in their
phase (a recheck apart from a new CheckTx), block requests count their transactions."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from carchain.engine.abci.adapter import AbciAdapter
from carchain.engine.abci.profile import PHASES, PhaseProfile, get_phase
from carchain.engine.abci.server import AbciServer
from carchain.engine.application import Application
from carchain.network.appnode import GC_ENV, GC_GEN0_THRESHOLD, tune_gc
from carchain.storage.database import Database
from tests.engine.abci.test_abci_server import Conn, finalize, init_request, register_tx, run
from tests.network.conftest import require_network_setup

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def abci() -> Any:
    require_network_setup()
    from carchain.engine.abci import protos

    return protos.get_abci()


def test_requests_are_timed_in_their_phase(tmp_path: Path, abci: Any) -> None:
    ticks = itertools.count()
    profile = PhaseProfile(clock=lambda: float(next(ticks)))  # every interval lasts 1 s
    db = Database(tmp_path / "state.db")
    server = AbciServer(AbciAdapter(Application(db)), "tcp://127.0.0.1:0", profile)

    async def body() -> None:
        await server.start()
        conns = []
        try:
            for _ in range(2):
                r, w = await asyncio.open_connection("127.0.0.1", server.port)
                conns.append(Conn(abci, r, w))
            consensus, mempool = conns
            await consensus.call(init_chain=init_request(abci))
            txs = [register_tx(1, "saic:v-1"), register_tx(2, "saic:v-2")]
            for tx in txs:
                assert (await mempool.call(check_tx=abci.RequestCheckTx(tx=tx))).check_tx.code == 0
            recheck = abci.RequestCheckTx(tx=txs[1], type=abci.RECHECK)
            await mempool.call(check_tx=recheck)
            await consensus.call(finalize_block=finalize(abci, 1, txs[:1]))
            await consensus.call(commit=abci.RequestCommit())
        finally:
            for c in conns:
                c.writer.close()
            server.close()
            db.close()

    run(body())
    doc = profile.to_json()
    phases = doc["phases"]
    assert set(phases) == set(PHASES)
    got = {p: (v["requests"], v["cpu_s"], v["txs"]) for p, v in phases.items() if v["requests"]}
    assert got == {
        "other_requests": (1, 1.0, 0),  # init_chain
        "check_tx": (2, 2.0, 0),
        "recheck": (1, 1.0, 0),
        "finalize_block": (1, 1.0, 1),
        "commit": (1, 1.0, 0),
        "decode": (6, 6.0, 0),  # flushes are not recorded
        "encode": (6, 6.0, 0),
    }
    assert doc["process_cpu_s"] >= 0
    profile.save(tmp_path / "profile.json")
    assert json.loads((tmp_path / "profile.json").read_text())["phases"] == phases


def test_every_request_kind_gets_a_phase(abci: Any) -> None:
    new = abci.Request(check_tx=abci.RequestCheckTx(tx=b"x"))
    recheck = abci.Request(check_tx=abci.RequestCheckTx(tx=b"x", type=abci.RECHECK))
    assert (get_phase("check_tx", new), get_phase("check_tx", recheck)) == ("check_tx", "recheck")
    assert get_phase("echo", abci.Request(echo=abci.RequestEcho())) == "other_requests"
    assert get_phase("process_proposal", None) == "process_proposal"


def test_garbage_collections_are_timed_while_watched() -> None:
    ticks = itertools.count()
    profile = PhaseProfile(clock=lambda: float(2 * next(ticks)))  # every collection: 2 s
    profile.watch_gc()
    try:
        gc.collect()
        gc.collect()
    finally:
        profile.unwatch_gc()
    gc.collect()  # not watched any more
    assert profile.to_json()["gc"] == {"cpu_s": 4.0, "runs": 2}
    profile.unwatch_gc()  # a second stop is harmless


def test_the_app_process_collector_is_tuned_unless_asked_not_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = gc.get_threshold()
    monkeypatch.setenv(GC_ENV, "default")
    assert tune_gc() is False and gc.get_threshold() == before
    monkeypatch.delenv(GC_ENV)
    try:
        assert tune_gc() is True
        assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
