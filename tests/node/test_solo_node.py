"""The embedded node as the API sees it: reads from worker threads never observe
a block that is still being committed."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carchain.api.encoding import proof_json
from carchain.core.transactions import compute_tx_hash
from carchain.node.solo_node import SoloNode
from carchain.sdk.proofs import verify_state_proof
from carchain.sdk.transactions import build_tx
from carchain.storage.blocks import Block
from carchain.storage.database import Database
from tests.conftest import CHAIN_ID, make_genesis, seeded_key
from tests.core.test_vehicles import register_body

# How long a reader is given to (wrongly) finish while a block is mid-commit.
INSIDE_COMMIT_WAIT_S = 0.5


@pytest.fixture
def node(tmp_path: Path) -> Iterator[SoloNode]:
    db = Database(tmp_path / "node.db")
    n = SoloNode(db)
    n.app.init_chain(make_genesis())
    yield n
    db.close()


def test_reads_wait_for_the_commit_in_progress(node: SoloNode) -> None:
    key = seeded_key("saic")
    assert node.engine.submit(build_tx(CHAIN_ID, key, 1, register_body("saic:v-1"))).ok
    node.produce_block()
    last = build_tx(CHAIN_ID, key, 9, register_body("saic:v-9"))
    for nonce in range(2, 9):
        assert node.engine.submit(
            build_tx(CHAIN_ID, key, nonce, register_body(f"saic:v-{nonce}"))
        ).ok
    assert node.engine.submit(last).ok

    seen: dict[str, Any] = {}
    write_block = node.engine.blocks.write_block

    def reader() -> None:
        seen["tx"] = node.get_tx(compute_tx_hash(last))
        seen["status"] = node.status()
        seen["query"] = node.query("accounts", key.public_key, True)
        seen["listing"] = [k for k, _ in node.iterate("vehicles", b"v/", 100, b"")]

    def write_block_then_read(conn: sqlite3.Connection, block: Block, hashes: list[bytes]) -> None:
        # Inside the commit's SQLite transaction: a concurrent API read happens now.
        write_block(conn, block, hashes)
        thread = threading.Thread(target=reader)
        thread.start()
        thread.join(INSIDE_COMMIT_WAIT_S)
        seen["finished_inside_commit"] = not thread.is_alive()
        seen["thread"] = thread

    node.engine.blocks.write_block = write_block_then_read  # type: ignore[method-assign]
    node.produce_block()
    seen["thread"].join(30)
    assert seen["finished_inside_commit"] is False
    # The reader ran after the commit and saw one consistent state: the new one.
    assert seen["tx"].state == "committed" and seen["tx"].height == 2
    assert seen["status"].height == 2
    assert seen["status"].app_hash == node.app.state.app_hash
    q = seen["query"]
    assert q.height == 2 and int.from_bytes(q.value, "big") == 9
    verify_state_proof(
        node.app.state.app_hash, "accounts", key.public_key, q.value, proof_json(q.proof)
    )
    assert len(seen["listing"]) == 9


def test_commit_listener_may_read_the_node(node: SoloNode) -> None:
    """A listener runs inside produce_block; reading the node there must not deadlock."""
    heights = []
    node.engine.add_commit_listener(lambda block, _: heights.append(node.status().height))
    assert node.engine.submit(build_tx(CHAIN_ID, seeded_key("saic"), 1, register_body())).ok
    node.produce_block()
    assert heights == [1]
