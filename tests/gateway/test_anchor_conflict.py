"""The chain already holds another anchor of our OEM at the journal's sequence number
(a gateway restored from an older journal backup, or two gateways on one OEM key): the
gateway must go on anchoring, lose no batch and anchor none twice (review of issue 7)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import msgspec

from carchain.core.anchors import (
    Anchor,
    AnchorHead,
    SubmitAnchor,
    compute_anchor_key,
    compute_head_key,
)
from carchain.core.transactions import decode_body, decode_envelope
from carchain.errors import NotFound
from carchain.gateway.anchoring import Anchorer, AnchorManifest, compute_gateway_root
from carchain.gateway.journal import Journal
from carchain.sdk.account import Account
from carchain.storage.blobstore import FileBlobStore
from tests.conftest import CHAIN_ID, seeded_key

OEM = "saic"


class ChainNode:
    """A node holding anchors by key; a submitted anchor commits in a block of its own."""

    def __init__(self) -> None:
        self.state: dict[bytes, bytes] = {}
        self.blocks: dict[int, list[bytes]] = {}
        self.height = 10
        self.submitted: list[SubmitAnchor] = []

    def nonce(self, public_key: bytes) -> int:
        return len(self.submitted)

    def query(self, store: str, key: bytes, prove: bool = False) -> dict[str, Any]:
        if key not in self.state:
            raise NotFound("no such key")
        return {"value": self.state[key].hex(), "height": self.height}

    def tx(self, tx_hash: bytes) -> dict[str, Any]:
        raise NotFound("unknown")

    def block(self, height: int) -> dict[str, Any]:
        return {"txs": [base64.b64encode(t).decode() for t in self.blocks.get(height, [])]}

    def commit(self, tx: bytes) -> None:
        env = decode_envelope(tx)
        body = decode_body(env.body, SubmitAnchor)
        head = self.state.get(compute_head_key(OEM))
        expected = 1 + (msgspec.msgpack.decode(head, type=AnchorHead).seq if head else 0)
        assert body.seq == expected, "the chain accepts each sequence number once, in order"
        self.height += 1
        self.blocks[self.height] = [tx]
        fields = msgspec.structs.asdict(body)
        anchor = Anchor(oem=OEM, signer=env.signer, height=self.height, time_ms=0, **fields)
        self.state[compute_anchor_key(OEM, body.seq)] = msgspec.msgpack.encode(anchor)
        self.state[compute_head_key(OEM)] = msgspec.msgpack.encode(
            AnchorHead(body.seq, self.height)
        )

    def submit(self, tx: bytes, mode: str = "sync", timeout_s: float = 10.0) -> dict[str, Any]:
        self.submitted.append(decode_body(decode_envelope(tx).body, SubmitAnchor))
        self.commit(tx)
        return {"tx_hash": hashlib.sha256(tx).hexdigest()}


def add_batch(journal: Journal, n: int) -> bytes:
    header = f"header-{n}".encode()
    digest = hashlib.sha256(header).digest()
    journal.add_batch(digest, "saic:veh-1", 1, n, 1000 * n, 1000 * n + 999, 5, 64, header)
    return digest


def make_anchorer(tmp_path: Path, node: ChainNode, name: str) -> Anchorer:
    account = Account(node, seeded_key(OEM), CHAIN_ID)  # type: ignore[arg-type]
    journal = Journal(tmp_path / name / "journal.db")
    return Anchorer(OEM, account, journal, FileBlobStore(tmp_path / "blobs"))


def run_until_idle(anchorer: Anchorer) -> None:
    for _ in range(10):
        anchorer.step()
        journal = anchorer.journal
        if journal.get_unconfirmed_anchor_optional() is None and not journal.get_unanchored(10):
            return
    raise AssertionError("the anchorer did not settle")


def test_second_gateway_on_one_oem_key_reanchors_at_chain_head(tmp_path: Path) -> None:
    node = ChainNode()
    first, second = make_anchorer(tmp_path, node, "a"), make_anchorer(tmp_path, node, "b")
    mine = add_batch(second.journal, 1)
    add_batch(first.journal, 2)
    # Both build seq 1; the first's lands.
    assert second._build_next() is not None
    assert first.step() is not None
    run_until_idle(second)  # before the fix: raised on every step, for ever
    row = second.journal.get_batch_optional(mine)
    assert row is not None and row.anchor_seq == 2
    anchor = second.journal.get_anchor_optional(2)
    assert anchor is not None and anchor.height > 0
    assert [a.seq for a in node.submitted] == [1, 2]
    raw = second.blobs.get(anchor.body.manifest_hash)
    manifest = msgspec.msgpack.decode(raw, type=AnchorManifest)
    assert manifest.headers == [b"header-1"]  # only its own batch; nothing lost
    second.journal.close()
    first.journal.close()


def test_restored_journal_adopts_our_own_anchor_and_anchors_nothing_twice(
    tmp_path: Path,
) -> None:
    node = ChainNode()
    # An older backup of the journal: h1 and h2 accepted, anchor 1 = {h1, h2} built but
    # not yet sent. After the backup, the live gateway anchored 1 = {h1} (its manifest
    # is in the blob store, which the restore left alone).
    restored = make_anchorer(tmp_path, node, "restored")
    h1 = add_batch(restored.journal, 1)
    h2 = add_batch(restored.journal, 2)
    assert restored._build_next() is not None
    live = make_anchorer(tmp_path, node, "live")
    add_batch(live.journal, 1)
    assert live.step() is not None
    row = restored.journal.get_unconfirmed_anchor_optional()
    assert row is not None and row.body.seq == 1
    assert row.body.root != compute_gateway_root([b"header-1"])
    run_until_idle(restored)
    b1, b2 = restored.journal.get_batch_optional(h1), restored.journal.get_batch_optional(h2)
    assert b1 is not None and (b1.anchor_seq, b1.anchor_index) == (1, 0)
    assert b2 is not None and b2.anchor_seq == 2
    adopted = restored.journal.get_anchor_optional(1)
    assert adopted is not None and adopted.height == 11 and adopted.tx == node.blocks[11][0]
    proof_anchor, _ = restored.get_batch_proof(b1)  # h1's proof is served from anchor 1
    assert proof_anchor.body.root == compute_gateway_root([b"header-1"])
    second = decode_body(decode_envelope(node.blocks[12][0]).body, SubmitAnchor)
    assert second.batch_count == 1  # h2 alone: h1 is not anchored twice
    live.journal.close()
    restored.journal.close()
