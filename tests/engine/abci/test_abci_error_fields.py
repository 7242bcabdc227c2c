"""Typed error fields on CometBFT's path: CheckTx ``data``/``info``, ExecTxResult and
ResponseQuery ``info`` carry them as JSON, and the node's backend rebuilds them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from carchain.engine.abci.adapter import AbciAdapter
from carchain.engine.application import Application
from carchain.errors import InvalidNonce, make_error
from carchain.network.backend import CometBackend, decode_check_fields
from carchain.storage.database import Database
from tests.engine.abci.test_abci_server import finalize, init_request, register_tx
from tests.network.conftest import require_network_setup

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def abci() -> Any:
    require_network_setup()
    from carchain.engine.abci import protos

    return protos.get_abci()


class BroadcastRpc:
    """Answers ``broadcast_tx_sync`` as CometBFT's RPC does: data as upper-case hex."""

    def __init__(self, adapter: AbciAdapter, abci: Any) -> None:
        self.adapter, self.abci = adapter, abci

    async def broadcast_tx_sync(self, tx: bytes) -> dict[str, Any]:
        req = self.abci.Request(check_tx=self.abci.RequestCheckTx(tx=tx))
        res = self.adapter.handle("check_tx", req).check_tx
        return {
            "code": res.code,
            "codespace": res.codespace,
            "log": res.log,
            "data": res.data.hex().upper(),
            "hash": "",
        }


@pytest.fixture
def adapter(tmp_path: Path, abci: Any) -> Any:
    db = Database(tmp_path / "state.db")
    adapter = AbciAdapter(Application(db))
    adapter.handle("init_chain", abci.Request(init_chain=init_request(abci)))
    yield adapter
    db.close()


def test_check_tx_fields_reach_the_backend_through_broadcast(adapter: Any, abci: Any) -> None:
    raw = register_tx(7, "saic:n-1")
    res = adapter.handle("check_tx", abci.Request(check_tx=abci.RequestCheckTx(tx=raw))).check_tx
    assert res.codespace == "invalid_nonce" and res.code == InvalidNonce.abci_code
    assert json.loads(res.info) == json.loads(res.data) == {"expected": 1, "got": 7}
    backend = CometBackend(adapter, BroadcastRpc(adapter, abci))  # type: ignore[arg-type]
    check = asyncio.run(backend.submit(raw, "sync", 1.0)).check
    assert check.fields == {"expected": 1, "got": 7}
    err = make_error(check.error_code, check.log, check.fields)
    assert isinstance(err, InvalidNonce) and err.expected == 1


def test_accepted_check_tx_carries_no_fields(adapter: Any, abci: Any) -> None:
    res = adapter.handle(
        "check_tx", abci.Request(check_tx=abci.RequestCheckTx(tx=register_tx(1, "saic:n-2")))
    ).check_tx
    assert (res.code, res.info, res.data) == (0, "", b"")


def test_exec_result_and_query_carry_fields_in_info(adapter: Any, abci: Any) -> None:
    txs = [register_tx(1, "saic:d-1"), register_tx(2, "saic:d-1")]
    fin = adapter.handle("finalize_block", abci.Request(finalize_block=finalize(abci, 1, txs)))
    ok, dup = fin.finalize_block.tx_results
    assert ok.info == "" and dup.codespace == "already_exists"
    assert json.loads(dup.info) == {"vehicle_id": "saic:d-1"}
    # CometBFT v0.38's LastResultsHash covers code, data, gas_wanted and gas_used only
    # (abci/types deterministicExecTxResult): fields ride in info, data stays empty.
    assert (ok.data, dup.data, ok.gas_wanted, dup.gas_used) == (b"", b"", 0, 0)
    adapter.handle("commit", abci.Request(commit=abci.RequestCommit()))
    q = adapter.handle(
        "query", abci.Request(query=abci.RequestQuery(path="/store/vehicles", data=b"x", height=9))
    ).query
    assert q.codespace == "height_unavailable"
    assert json.loads(q.info)["height"] == 9


@pytest.mark.parametrize("data", ["", "zz", "7B", b"\xff".hex(), "5B315D"])
def test_invalid_check_data_gives_no_fields(data: str) -> None:
    assert decode_check_fields({"data": data}) == {}
