"""A solo node with the lawful-access cast, its API in-process, block times under test control.

``NodeChain`` is ``tests.conftest.Chain`` over a ``SoloNode`` (so the API serves its
blocks and proofs) with ``state`` as ``CoreChain`` has it: the helpers of
``tests.core.lawful_world`` (``setup_world``, ``authorized_case``, ``approve``, ...)
run on it unchanged. Blocks are produced only when a test makes one, at ``now_ms``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carchain.api.app import create_app
from carchain.core.case_records import DAY_MS, ExtendNotice, RegisterEscrowKey
from carchain.core.state import KVView
from carchain.node.solo_node import SoloNode
from carchain.sdk.client import Client
from carchain.storage.database import Database
from tests.conftest import Chain, make_genesis
from tests.core.lawful_world import (
    LAWFUL_MEMBERS,
    approve,
    authorized_case,
    item,
    release_body,
    setup_world,
)


@dataclass
class NodeChain(Chain):
    """A solo chain whose node also serves the API (``http``)."""

    http: TestClient | None = None

    @property
    def state(self) -> KVView:
        """Committed state (as ``CoreChain.state``)."""
        return self.app.state

    def sdk(self) -> Client:
        """Return the SDK client over the in-process app."""
        client = Client("http://testserver")
        assert self.http is not None
        client._http = self.http
        return client

    def get(self, path: str, status: int = 200, **params: Any) -> Any:
        """GET ``path`` and check the status."""
        assert self.http is not None
        resp = self.http.get(path, params=params)
        assert resp.status_code == status, resp.text
        return resp.json()

    def tick(self) -> None:
        """Make one block at the next time (the solo engine makes no empty block: a
        harmless transaction, pingan registering its escrow key, carries it)."""
        self.send("pingan", RegisterEscrowKey(self.key("escrow/pingan").public_key))

    def advance_to(self, time_ms: int) -> None:
        """Make the next block's time ``time_ms``."""
        self.now_ms = time_ms - 1000


@pytest.fixture
def node_chain(tmp_path: Path) -> Iterator[NodeChain]:
    """A fresh node with the lawful cast, the committee set and three cars registered."""
    db = Database(tmp_path / "node.db")
    node = SoloNode(db, state_versions=1000)
    node.app.init_chain(make_genesis(founders=LAWFUL_MEMBERS))
    try:
        with TestClient(create_app(node), raise_server_exceptions=False) as http:
            chain = NodeChain(node.app, node.engine, db, tmp_path / "node.db", http=http)
            setup_world(chain)  # type: ignore[arg-type]
            yield chain
    finally:
        db.close()


def run_case(chain: NodeChain, notice_delay_ms: int = 0, vehicles: list[str] | None = None) -> int:
    """Open, authorise, approve (3 of 4) and release two shares (saic:1, saic:2); return
    the case id. With a positive delay the case stays sealed."""
    case_id = authorized_case(chain, vehicles, notice_delay_ms=notice_delay_ms)  # type: ignore[arg-type]
    approve(chain, case_id, "court", "caam", "audit")  # type: ignore[arg-type]
    shares = [item(index=2, label=f"{case_id}/1"), item("saic:2", index=2, label=f"{case_id}/2")]
    chain.send("caam", release_body(case_id, *shares))
    return case_id


def extend(chain: NodeChain, case_id: int, delay_ms: int) -> None:
    """Extend the case's notice delay (court2 authorised it)."""
    chain.send("court2", ExtendNotice(case_id, delay_ms))


__all__ = ["DAY_MS", "NodeChain", "extend", "node_chain", "run_case"]
