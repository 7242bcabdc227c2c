"""A solo node whose access log tests can fill: a TEST-ONLY transaction type.

The transactions that append access events in production (consents, access,
erasure, holds) belong to other modules; these tests need events only, so
``test.append_event`` (registered only while a test runs, via ``monkeypatch``)
calls ``core.access_log.process_append_event`` ``count`` times in a real block.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fastapi.testclient import TestClient

from carchain.api.app import create_app
from carchain.core import registry
from carchain.core.access_log import EventKind, process_append_event
from carchain.core.effects import Effects
from carchain.core.state import KVView
from carchain.core.types import BlockContext
from carchain.crypto.signing import SigningKey
from carchain.node.solo_node import SoloNode
from carchain.sdk import transactions
from carchain.sdk.client import Client
from carchain.sdk.transactions import build_tx
from carchain.storage.database import Database
from tests.conftest import CHAIN_ID, make_genesis, seeded_key
from tests.core.test_vehicles import register_body

TEST_TX = "test.append_event"
KINDS = [k.value for k in EventKind]


class AppendEvents(msgspec.Struct, frozen=True):
    """Test-only body: append ``count`` events of ``kind`` to the vehicle's log."""

    vehicle_id: str
    kind: str
    count: int = 1
    categories: list[str] = msgspec.field(default_factory=list)


def _process(view: KVView, ctx: BlockContext, signer: bytes, body: Any, _: Effects) -> None:
    for i in range(body.count):
        kind = EventKind(body.kind)
        process_append_event(view, ctx, kind, body.vehicle_id, signer, "", i, body.categories)


def _admit(view: KVView, signer: bytes, body: Any) -> None:
    return None


@pytest.fixture
def test_tx_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register ``test.append_event`` for this test only."""
    row = registry.TxType(TEST_TX, AppendEvents, _admit, frozenset(), _process)
    monkeypatch.setitem(registry.TX_TYPES, TEST_TX, row)
    monkeypatch.setitem(transactions._BODY_TYPES, AppendEvents, TEST_TX)


@dataclass
class LogChain:
    """A SoloNode with its API in-process; blocks only when the test makes one."""

    node: SoloNode
    http: TestClient
    nonces: dict[bytes, int] = field(default_factory=dict)

    def send(self, signer: str, *bodies: msgspec.Struct) -> int:
        """Put ``bodies`` in one block; return its height."""
        key = seeded_key(signer)
        for body in bodies:
            self.nonces[key.public_key] = self.nonces.get(key.public_key, 0) + 1
            check = self.node.engine.submit(
                build_tx(CHAIN_ID, key, self.nonces[key.public_key], body)
            )
            assert check.ok, check
        block = self.node.produce_block()
        assert block is not None and all(r.code == 0 for r in block.results), block
        return block.header.height

    def register(self, vehicle_id: str, owner: SigningKey | None = None) -> None:
        """Register a vehicle of the OEM its id names."""
        body = register_body(vehicle_id, owner) if owner else register_body(vehicle_id)
        self.send(vehicle_id.split(":")[0], body)

    def append(self, vehicle_id: str, count: int, kind: str = "request") -> int:
        """Append ``count`` events to the vehicle's log in one block."""
        return self.send("saic", AppendEvents(vehicle_id, kind, count, ["diagnostics"]))

    def sdk(self) -> Client:
        """Return the SDK client over the in-process app."""
        client = Client("http://testserver")
        client._http = self.http
        return client

    def get(self, path: str, status: int = 200, **params: Any) -> Any:
        """GET ``path`` and check the status."""
        resp = self.http.get(path, params=params)
        assert resp.status_code == status, resp.text
        return resp.json()


def make_log_chain(tmp_path: Path) -> Iterator[LogChain]:
    """Yield a fresh ``LogChain`` (the test must also use the ``test_tx_type`` fixture)."""
    db = Database(tmp_path / "node.db")
    node = SoloNode(db, state_versions=100)
    node.app.init_chain(make_genesis())
    try:
        with TestClient(create_app(node), raise_server_exceptions=False) as http:
            yield LogChain(node, http)
    finally:
        db.close()


@pytest.fixture
def log_chain(tmp_path: Path, test_tx_type: None) -> Iterator[LogChain]:
    """A ``LogChain`` with the test-only transaction type registered."""
    yield from make_log_chain(tmp_path)
