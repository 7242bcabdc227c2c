"""A network node's readiness from CometBFT's status: ready when the RPC answers, it is
not catching up and the application is at most one block behind; else the reasons."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from carchain.engine.abci.adapter import AbciAdapter
from carchain.engine.application import Application
from carchain.errors import ConsensusUnavailable
from carchain.network.backend import CometBackend
from carchain.storage.database import Database
from tests.conftest import make_genesis


class FakeRpc:
    """Answers ``status`` with a canned document, or fails like an unreachable CometBFT."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        assert method == "status"
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def status(height: int, catching_up: bool = False) -> dict[str, Any]:
    return {"sync_info": {"latest_block_height": str(height), "catching_up": catching_up}}


@pytest.mark.parametrize(
    ("answer", "reasons"),
    [
        (status(0), ()),
        (status(1), ()),  # CometBFT reports the block before we commit it
        (status(5), ("application behind consensus",)),
        (status(0, catching_up=True), ("consensus catching up",)),
        (status(9, catching_up=True), ("consensus catching up", "application behind consensus")),
        (ConsensusUnavailable("down"), ("consensus unreachable",)),
        ({"sync_info": {}}, ("consensus unreachable",)),  # nonsense answer
        (
            {"sync_info": {"latest_block_height": "x", "catching_up": False}},
            ("consensus unreachable",),
        ),
    ],
)
def test_readiness_follows_cometbft(tmp_path: Path, answer: Any, reasons: tuple[str, ...]) -> None:
    db = Database(tmp_path / "state.db")
    try:
        app = Application(db)
        app.init_chain(make_genesis())
        backend = CometBackend(AbciAdapter(app), FakeRpc(answer))  # type: ignore[arg-type]
        r = asyncio.run(backend.check_readiness())
        assert r.reasons == reasons
        assert r.ready is (not reasons)
        assert r.height == 0
    finally:
        db.close()
