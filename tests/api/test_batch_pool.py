"""``POST /txs/batch`` on the embedded node checks the batch's signatures on the engine's
thread pool: the verdicts are those of one-by-one submission (issue 14)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from carchain.sdk.transactions import build_tx
from tests.api.test_api import Api, _api
from tests.conftest import CHAIN_ID, seeded_key
from tests.core.test_vehicles import register_body
from tests.engine.test_stateless_pool import break_signature


@pytest.fixture
def idle(tmp_path: Path) -> Iterator[Api]:
    """The API with no block loop: blocks only when the test makes one."""
    yield from _api(tmp_path, loop=False)


def test_pooled_batch_refuses_the_broken_signature_alone(idle: Api) -> None:
    key = seeded_key("saic")
    raws = [build_tx(CHAIN_ID, key, n, register_body(f"saic:{n}")) for n in range(1, 81)]
    raws[79] = break_signature(raws[79])  # the last: nothing after it depends on its nonce
    body = {"txs": [base64.b64encode(r).decode() for r in raws]}
    doc = idle.http.post("/txs/batch", json=body).json()
    codes = [r["check"]["error_code"] for r in doc["results"]]
    assert codes == [""] * 79 + ["invalid_signature"] and doc["accepted"] == 79
    assert idle.node.app._stateless._pool is not None  # checked on the pool
    assert idle.node.produce_block() is not None
    assert idle.get("/blocks/1/header")["tx_count"] == 79
    idle.node.app.close_stateless_pool()
