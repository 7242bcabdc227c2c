"""The explorer read API over the network backend (``CometBackend`` on an ABCI adapter,
blocks finalized and committed as CometBFT would): the same answers as on a solo node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carchain.api.app import create_app
from carchain.core import governance as gov
from carchain.core.anchors import SubmitAnchor
from carchain.core.validators import compute_validator_address
from carchain.engine.abci.adapter import AbciAdapter
from carchain.engine.application import Application
from carchain.network.backend import CometBackend
from carchain.sdk.transactions import build_tx
from carchain.storage.database import Database
from tests.api.test_api import assert_error
from tests.conftest import CHAIN_ID, FOUNDERS, seeded_key, validator_key
from tests.engine.abci.test_abci_server import finalize, init_request, register_tx
from tests.network.conftest import require_network_setup

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def abci() -> Any:
    require_network_setup()
    from carchain.engine.abci import protos

    return protos.get_abci()


def _block(adapter: AbciAdapter, abci: Any, height: int, txs: list[bytes]) -> None:
    adapter.handle("finalize_block", abci.Request(finalize_block=finalize(abci, height, txs)))
    adapter.handle("commit", abci.Request(commit=abci.RequestCommit()))


def _anchor(seq: int, oem: str, nonce: int) -> bytes:
    body = SubmitAnchor(seq, bytes([seq]) * 32, 2, 10 * seq, 1, 2, bytes([9]) * 32)
    return build_tx(CHAIN_ID, seeded_key(oem), nonce, body)


@pytest.fixture
def http(tmp_path: Path, abci: Any) -> Iterator[TestClient]:
    db = Database(tmp_path / "state.db")
    adapter = AbciAdapter(Application(db))
    adapter.handle("init_chain", abci.Request(init_chain=init_request(abci)))
    _block(adapter, abci, 1, [register_tx(1, "saic:n-1"), register_tx(2, "saic:n-2")])
    propose = gov.Propose(gov.SuspendMember("bosch"))
    _block(adapter, abci, 2, [build_tx(CHAIN_ID, seeded_key("miit"), 1, propose)])
    _block(adapter, abci, 3, [_anchor(1, "saic", 3)])
    _block(adapter, abci, 4, [_anchor(2, "saic", 4)])
    backend = CometBackend(adapter, rpc=None)  # type: ignore[arg-type]  # reads only
    try:
        with TestClient(create_app(backend), raise_server_exceptions=False) as client:
            yield client
    finally:
        db.close()


def test_explorer_reads_on_the_network_backend(http: TestClient) -> None:
    ov = http.get("/overview").json()
    assert ov["height"] == 4 and [p["txs"] for p in ov["throughput"]] == [2, 1, 1, 1]
    assert ov["block_interval_ms"] == pytest.approx(1000.0)
    assert ov["counts"] == {"members": len(FOUNDERS), "vehicles": 2, "proposals_open": 1,
                            "anchors": 2}  # fmt: skip
    want = sorted(compute_validator_address(validator_key(m)).hex() for m, *_, p in FOUNDERS if p)
    assert [v["address"] for v in ov["validators"]] == want
    page = http.get("/blocks", params={"limit": 3}).json()
    assert [b["height"] for b in page["blocks"]] == [4, 3, 2] and page["next_before"] == 2
    assert page["blocks"][0]["proposer"] == "01" * 20
    block = http.get("/blocks/1").json()
    assert [d["type"] for d in block["decoded_txs"]] == ["vehicle.register"] * 2
    assert block["decoded_txs"][0]["signer_member"] == "saic"
    tx = http.get(f"/txs/{block['decoded_txs'][1]['hash']}").json()
    assert tx["decoded"] == block["decoded_txs"][1]
    anchors = http.get("/anchors", params={"gateway": "saic"}).json()
    assert [(a["seq"], a["height"]) for a in anchors["anchors"]] == [(2, 4), (1, 3)]
    summary = http.get("/anchors/summary").json()["gateways"]
    assert [(g["gateway"], g["anchors"], g["batches"], g["records"]) for g in summary] == [
        ("saic", 2, 4, 30)
    ]
    open_ = http.get("/proposals", params={"status": "open"}).json()["proposals"]
    assert [p["kind"] for p in open_] == ["suspend_member"]
    assert http.get("/search", params={"q": "saic:n-2"}).json()["path"] == "/vehicles/saic:n-2"
    assert http.get("/search", params={"q": "3"}).json()["kind"] == "block"
    assert_error(http.get("/search", params={"q": "99"}), 404, "not_found")
    owner = seeded_key("owner/saic:n-1").public_key.hex()
    mine = http.get("/vehicles", params={"owner": owner}).json()["vehicles"]
    assert [v["vehicle_id"] for v in mine] == ["saic:n-1"]
