"""Typed error fields travel CheckTx -> TxResult/QueryResult -> API error body -> SDK."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from carchain.api import errors as api_errors
from carchain.api.app import create_app
from carchain.core.transactions import compute_tx_hash
from carchain.engine.application import CheckTxResult
from carchain.errors import (
    AlreadyExists,
    ConsensusUnavailable,
    HeightUnavailable,
    InvalidNonce,
    get_registered_errors,
)
from carchain.node.backend import SubmitResult
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from tests.api.test_api import Api, _api, assert_error
from tests.conftest import CHAIN_ID, seeded_key
from tests.core.test_vehicles import register_body


@pytest.fixture
def idle(tmp_path: Path) -> Iterator[Api]:
    yield from _api(tmp_path, loop=False)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from _api(tmp_path, loop=True)


def test_invalid_nonce_fields_reach_the_error_body_and_the_sdk(idle: Api) -> None:
    raw = idle.tx("saic", register_body(), nonce=5)
    doc = assert_error(idle.post(raw), 409, "invalid_nonce")
    assert doc["error"]["fields"] == {"expected": 1, "got": 5}
    assert doc["check"]["fields"] == {"expected": 1, "got": 5}
    with pytest.raises(InvalidNonce) as info:
        idle.sdk().submit(raw, "sync")
    assert (info.value.expected, info.value.got) == (1, 5)


class CountingClient(Client):
    """The SDK client over the in-process app, counting how often it asks for the nonce."""

    asked = 0

    def nonce(self, public_key: bytes) -> int:
        self.asked += 1
        return super().nonce(public_key)


def test_account_resyncs_from_invalid_nonce_expected_without_asking(idle: Api) -> None:
    client = CountingClient("http://testserver")
    client._http = idle.http
    account = Account(client, seeded_key("saic"), CHAIN_ID)
    account._nonce = 41  # stale: another process used this key
    with pytest.raises(InvalidNonce):
        account.send(register_body("saic:a-1"), "sync")
    account.send(register_body("saic:a-1"), "sync")
    assert client.asked == 0
    assert idle.node.produce_block() is not None
    assert idle.nonce(seeded_key("saic")) == 1


def test_account_without_expected_falls_back_to_asking(idle: Api) -> None:
    client = CountingClient("http://testserver")
    client._http = idle.http
    account = Account(client, seeded_key("saic"), CHAIN_ID)
    account.resync_from(InvalidNonce("no expected nonce"))
    assert account.next_nonce() == 1 and client.asked == 1


def test_failed_tx_result_keeps_its_fields_in_the_block_and_the_api(api: Api) -> None:
    api.commit("saic", register_body("saic:dup"))
    resp = api.post(api.tx("saic", register_body("saic:dup")), "commit")
    doc = assert_error(resp, 422, "already_exists")
    assert doc["error"]["fields"] == {"vehicle_id": "saic:dup"}
    assert doc["result"]["fields"] == {"vehicle_id": "saic:dup"}
    # Read back from the block store: the fields were stored with the block's results.
    assert api.get(f"/txs/{doc['hash']}")["result"]["fields"] == {"vehicle_id": "saic:dup"}
    with pytest.raises(AlreadyExists) as info:
        api.sdk().submit(api.tx("saic", register_body("saic:dup")), "commit")
    assert info.value.vehicle_id == "saic:dup"


def test_query_fields_reach_the_sdk(idle: Api) -> None:
    idle.node.produce_block()
    with pytest.raises(HeightUnavailable) as info:
        idle.sdk().query("members", b"saic", height=99)
    assert info.value.fields["height"] == 99
    assert info.value.latest == idle.node.app.state.height
    assert info.value.oldest is not None


def _app_raising(exc: Exception) -> TestClient:
    app = FastAPI()
    api_errors.register(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


def test_consensus_unavailable_is_503_not_500() -> None:
    resp = _app_raising(ConsensusUnavailable("CometBFT did not answer")).get("/boom")
    assert resp.status_code == 503
    assert resp.json() == {
        "error": {"code": "consensus_unavailable", "message": "CometBFT did not answer"}
    }


class StoppedConsensus:
    """A network backend whose CometBFT does not answer: submit refuses as CometBackend does."""

    chain_id = CHAIN_ID

    async def submit(self, raw: bytes, mode: str, timeout_s: float) -> SubmitResult:
        exc = ConsensusUnavailable("CometBFT RPC is not answering")
        return SubmitResult(CheckTxResult.from_error(exc, compute_tx_hash(raw)))


def test_submit_while_consensus_is_down_is_503() -> None:
    with TestClient(create_app(StoppedConsensus()), raise_server_exceptions=False) as http:  # type: ignore[arg-type]
        resp = http.post("/txs", json={"tx": base64.b64encode(b"tx").decode()})
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "consensus_unavailable"


@pytest.mark.parametrize("cls", get_registered_errors())
def test_each_error_answers_its_registered_status(cls: type[InvalidNonce]) -> None:
    resp = _app_raising(cls("m")).get("/boom")
    assert resp.status_code == cls.http_status
    assert resp.json()["error"]["code"] == cls.code
