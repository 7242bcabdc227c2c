"""A bundle's transaction is proven once: a tree size is in no header, so the leaf at
index 4 of a 5-leaf tx tree also "proves" at index 1 of a 2-leaf tree (its aunt the root
of the first four). Counted twice, one transaction stood in for another of the same
type, height and signer (two releases of one custodian in a block: the second's signed
transaction left out, the bundle still "exactly the case's")."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from carchain.core.case_records import CloseCase
from carchain.crypto.merkle import (
    MerkleProof,
    compute_leaf_hash,
    compute_merkle_root,
    compute_proofs,
)
from carchain.errors import InvalidProof
from carchain.sdk.evidence_chain import ChainBlock, verify_tx_entries
from carchain.sdk.transactions import build_tx
from tests.conftest import seeded_key

CHAIN_ID = "carchain-once"
TXS = [build_tx(CHAIN_ID, seeded_key("police"), i + 1, CloseCase(i + 1)) for i in range(5)]
DIGESTS = [hashlib.sha256(t).digest() for t in TXS]
ROOT, PROOFS = compute_proofs(DIGESTS)
CHAIN = {3: ChainBlock(3, b"h" * 32, b"p" * 32, ROOT, 1000)}


def entry(i: int, index: int, proof: MerkleProof) -> dict[str, Any]:
    raw = TXS[i]
    return {"height": 3, "index": index, "hash": DIGESTS[i].hex(), "tx": raw.hex(),
            "proof": proof.to_dict()}  # fmt: skip


def test_every_transaction_of_the_block_verifies_once() -> None:
    entries = [entry(i, i, PROOFS[i]) for i in range(5)]
    assert [t.index for t in verify_tx_entries(entries, CHAIN, CHAIN_ID)] == list(range(5))


def test_a_transaction_proven_again_under_another_index_is_refused() -> None:
    alias = MerkleProof(2, 1, compute_leaf_hash(DIGESTS[4]), (compute_merkle_root(DIGESTS[:4]),))
    forged = entry(4, 1, alias)
    assert len(verify_tx_entries([forged], CHAIN, CHAIN_ID)) == 1  # the alias checks alone
    with pytest.raises(InvalidProof, match="appears twice"):
        verify_tx_entries([forged, entry(4, 4, PROOFS[4])], CHAIN, CHAIN_ID)


@pytest.mark.parametrize("value", [1e400, float("nan"), 3.0, True, "3"])
def test_a_height_or_index_that_is_no_integer_is_malformed(value: Any) -> None:
    for field in ("height", "index"):
        bad = entry(0, 0, PROOFS[0]) | {field: value}
        with pytest.raises(InvalidProof, match="malformed transaction entry"):
            verify_tx_entries([bad], CHAIN, CHAIN_ID)
