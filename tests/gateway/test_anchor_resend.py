"""The gateway does not trust "pending" for ever: an anchor the node keeps calling
pending is sent again after ``stale_pending_s`` (issue 7, item 5)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from carchain.errors import DuplicateTransaction, NotFound
from carchain.gateway.anchoring import Anchorer
from carchain.gateway.journal import Journal
from carchain.sdk.account import Account
from carchain.storage.blobstore import FileBlobStore
from tests.conftest import CHAIN_ID, seeded_key


class StuckNode:
    """A node whose view of a transaction is stuck at "pending"; records submissions."""

    def __init__(self) -> None:
        self.submitted: list[bytes] = []
        self.duplicate = False

    def nonce(self, public_key: bytes) -> int:
        return 0

    def query(self, store: str, key: bytes, prove: bool = False) -> dict[str, Any]:
        raise NotFound("nothing anchored")

    def tx(self, tx_hash: bytes) -> dict[str, Any]:
        if not self.submitted:
            raise NotFound("unknown")
        return {"state": "pending"}

    def submit(self, tx: bytes, mode: str = "sync", timeout_s: float = 10.0) -> dict[str, Any]:
        self.submitted.append(tx)
        if self.duplicate:
            raise DuplicateTransaction("tx already exists in cache")
        return {"tx_hash": hashlib.sha256(tx).hexdigest()}


def make_anchorer(tmp_path: Path, node: StuckNode, stale_pending_s: float) -> Anchorer:
    journal = Journal(tmp_path / "journal.db")
    header = b"header-1"
    journal.add_batch(hashlib.sha256(header).digest(), "veh-1", 1, 1, 1000, 1999, 5, 64, header)
    account = Account(node, seeded_key("saic"), CHAIN_ID)  # type: ignore[arg-type]
    return Anchorer(
        "saic", account, journal, FileBlobStore(tmp_path / "blobs"), stale_pending_s=stale_pending_s
    )


def test_anchor_pending_too_long_is_sent_again(tmp_path: Path) -> None:
    node = StuckNode()
    anchorer = make_anchorer(tmp_path, node, stale_pending_s=0.0)
    assert anchorer.step() is None
    assert len(node.submitted) == 1
    node.duplicate = True  # still in some mempool: the copy is refused, nothing breaks
    assert anchorer.step() is None  # pending, and stale at once (0 s): sent again
    assert len(node.submitted) == 2 and node.submitted[1] == node.submitted[0]
    row = anchorer.journal.get_unconfirmed_anchor_optional()
    assert row is not None and row.tx == node.submitted[0]  # same bytes, same nonce
    anchorer.journal.close()


def test_anchor_pending_briefly_is_not_sent_again(tmp_path: Path) -> None:
    node = StuckNode()
    anchorer = make_anchorer(tmp_path, node, stale_pending_s=3600.0)
    assert anchorer.step() is None
    for _ in range(5):
        assert anchorer.step() is None
    assert len(node.submitted) == 1
    anchorer.journal.close()
