"""Helpers of the event-stream tests: a solo node whose blocks the test makes, a live
embedded node, vehicles registered through the API, and SSE parsing of a body."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from carchain.api.app import create_app
from carchain.api.event_stream import EventStreams
from carchain.node.solo_node import SoloNode
from carchain.sdk.client import Client
from carchain.sdk.events import SseFrame, parse_sse
from carchain.sdk.transactions import build_tx
from carchain.sim.embedded import EmbeddedNode
from carchain.storage.database import Database
from tests.conftest import CHAIN_ID, make_genesis, seeded_key
from tests.core.test_vehicles import register_body


@dataclass
class StepNode:
    """A solo node without its block loop: the test decides what goes in each block."""

    http: TestClient
    node: SoloNode
    nonces: dict[str, int]

    def submit_register(self, signer: str, vid: str) -> bytes:
        """Submit (sync) the registration of ``vid`` by ``signer``; return the tx bytes."""
        self.nonces[signer] = self.nonces.get(signer, 0) + 1
        raw = build_tx(CHAIN_ID, seeded_key(signer), self.nonces[signer], register_body(vid))
        resp = self.http.post("/txs", json={"tx": base64.b64encode(raw).decode()})
        assert resp.status_code == 200, resp.text
        return raw

    def block(self, *regs: tuple[str, str]) -> int:
        """Put the registrations ``(signer, vid)`` in one block; return its height."""
        for signer, vid in regs:
            self.submit_register(signer, vid)
        block = self.node.produce_block()
        assert block is not None and len(block.txs) == len(regs)
        return block.header.height

    def frames(self, headers: dict[str, str] | None = None, **params: Any) -> list[SseFrame]:
        """Return the frames of ``GET /events?follow=false&...`` (a 200 is asserted)."""
        resp = self.http.get("/events", params={"follow": "false", **params}, headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/event-stream")
        return list(parse_sse(iter(resp.text.splitlines())))

    @property
    def streams(self) -> EventStreams:
        """Return the app's stream registry."""
        streams: EventStreams = self.http.app.state.event_streams  # type: ignore[attr-defined]
        return streams


@contextlib.contextmanager
def run_step_node(tmp_path: Path) -> Iterator[StepNode]:
    """Yield a ``StepNode`` on a fresh chain."""
    db = Database(tmp_path / "node.db")
    node = SoloNode(db)
    node.app.init_chain(make_genesis())
    try:
        with TestClient(create_app(node), raise_server_exceptions=False) as http:
            yield StepNode(http, node, {})
    finally:
        db.close()


@contextlib.contextmanager
def run_live_node(tmp_path: Path, **settings: Any) -> Iterator[EmbeddedNode]:
    """Yield a live embedded node (block loop, uvicorn on loopback); ``settings``
    override its ``EventStreams`` (``max_subscribers``, ``heartbeat_s``)."""
    with EmbeddedNode(tmp_path / "home", make_genesis(), block_interval_ms=20) as emb:
        assert emb.app is not None
        for name, value in settings.items():
            setattr(emb.app.state.event_streams, name, value)
        yield emb


def get_streams(emb: EmbeddedNode) -> EventStreams:
    """Return a live node's stream registry."""
    assert emb.app is not None
    streams: EventStreams = emb.app.state.event_streams
    return streams


def register_live(url: str, signer: str, vid: str) -> dict[str, Any]:
    """Register ``vid`` through a live node's API and wait for its block."""
    key = seeded_key(signer)
    with Client(url) as c:
        raw = build_tx(CHAIN_ID, key, c.nonce(key.public_key) + 1, register_body(vid))
        res = c.submit(raw, mode="commit")
    assert res["result"]["code"] == 0, res
    return res
