"""The chain links of an evidence bundle on CometBFT blocks (built offline with the SDK's
own encodings, ``tests/sdk/lightchain``): headers with their commits chained to the
trusted block, transactions in ``data_hash``; a removed or forged commit signature, a
changed header or another validator set fails at ``block->trust root``."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from typing import Any

import pytest

from carchain.core.case_records import CloseCase
from carchain.crypto.merkle import compute_merkle_root, compute_proofs
from carchain.errors import InvalidProof
from carchain.sdk.bundle_block import COMETBFT, BlockTrust
from carchain.sdk.evidence_chain import verify_header_chain, verify_top_block, verify_tx_entries
from carchain.sdk.light import BlockId, LightBlock, compute_header_hash
from carchain.sdk.light_client import TrustedValidatorSet
from carchain.sdk.transactions import build_tx
from tests.conftest import seeded_key
from tests.sdk.lightchain import (
    Chain,
    light_block_json,
    make_header,
    make_keys,
    make_set,
    sign_commit,
)

CHAIN_ID = "carchain-bft"
TX_HEIGHTS = (2, 4)
KEYS = make_keys(4, "evidence-bft")


def build_chain(heights: int = 5) -> tuple[Chain, dict[int, list[bytes]]]:
    """Return a 4-validator chain whose blocks 2 and 4 hold two transactions each."""
    vals = make_set(KEYS)
    chain = Chain(CHAIN_ID, {k.public_key: k for k in KEYS}, {}, 1_800_000_000)
    chain.sets = {h: vals for h in range(1, heights + 2)}
    txs = {h: [build_tx(CHAIN_ID, seeded_key("police"), h * 10 + i, CloseCase(h * 10 + i))
               for i in range(2)] for h in TX_HEIGHTS}  # fmt: skip
    last = BlockId(b"", 0, b"")
    for h in range(1, heights + 1):
        header = make_header(chain, h, last)
        if h in txs:
            root = compute_merkle_root([hashlib.sha256(t).digest() for t in txs[h]])
            header = dataclasses.replace(header, data_hash=root)
        chain.blocks[h] = LightBlock(header, sign_commit(chain, header, vals), vals)
        last = chain.blocks[h].commit.block_id
    return chain, txs


def section(lb: LightBlock) -> dict[str, Any]:
    return {"engine": COMETBFT, "hash": compute_header_hash(lb.header).hex(),
            **light_block_json(lb)}  # fmt: skip


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    chain, txs = build_chain()
    entries = []
    for h, raws in txs.items():
        _, proofs = compute_proofs([hashlib.sha256(t).digest() for t in raws])
        for i, raw in enumerate(raws):
            entries.append({"height": h, "index": i, "hash": hashlib.sha256(raw).hexdigest(),
                            "tx": raw.hex(), "proof": proofs[i].to_dict()})  # fmt: skip
    return {
        "block": section(chain.blocks[5]),
        "headers": [section(chain.blocks[h]) for h in range(2, 5)],
        "txs": entries,
        "validators": chain.sets[1],
    }


def check(doc: dict[str, Any], trust: BlockTrust) -> int:
    top, block = verify_top_block(doc["block"], trust)
    blocks = verify_header_chain(doc["headers"], block, top.engine)
    return len(verify_tx_entries(doc["txs"], blocks, top.chain_id))


def validators_trust(doc: dict[str, Any]) -> BlockTrust:
    return BlockTrust(validators=TrustedValidatorSet(CHAIN_ID, 0, doc["validators"]))


def fails_at(link: str, doc: dict[str, Any], trust: BlockTrust) -> str:
    with pytest.raises(InvalidProof) as exc:
        check(doc, trust)
    assert exc.value.fields.get("link") == link, exc.value.message
    return exc.value.message


def test_cometbft_chain_verifies_against_the_trusted_validator_set(bundle: dict[str, Any]) -> None:
    assert check(bundle, validators_trust(bundle)) == 4
    assert check(bundle, BlockTrust(trusted_hash=bytes.fromhex(bundle["block"]["hash"]))) == 4


def test_removed_commit_signatures_fail_at_block_to_trust_root(bundle: dict[str, Any]) -> None:
    for where in ("block", "header"):
        doc = copy.deepcopy(bundle)
        target = doc["block"] if where == "block" else doc["headers"][1]
        sigs = target["commit"]["signatures"]
        for s in sigs[:2]:  # two of four absent: 1/2 of the power, not more than 2/3
            s.update(block_id_flag=1, validator_address="", signature=None)
        assert "2/3" in fails_at("block->trust root", doc, validators_trust(bundle))
        del sigs[0]  # one entry removed: the commit no longer matches the set
        fails_at("block->trust root", doc, validators_trust(bundle))


def test_forged_commit_signature_fails_at_block_to_trust_root(bundle: dict[str, Any]) -> None:
    doc = copy.deepcopy(bundle)
    sig = doc["headers"][0]["commit"]["signatures"][3]
    sig["signature"] = sig["signature"][:-4] + (
        "AAA=" if sig["signature"][-4:] != "AAA=" else "BBB="
    )
    assert "signature" in fails_at("block->trust root", doc, validators_trust(bundle))


def test_another_validator_set_fails_at_block_to_trust_root(bundle: dict[str, Any]) -> None:
    other = BlockTrust(validators=TrustedValidatorSet(CHAIN_ID, 0, make_set(make_keys(4, "x"))))
    assert "1/3" in fails_at("block->trust root", bundle, other)
    wrong_chain = BlockTrust(validators=TrustedValidatorSet("other", 0, bundle["validators"]))
    fails_at("block->trust root", bundle, wrong_chain)


def test_changed_header_fails_at_block_to_trust_root(bundle: dict[str, Any]) -> None:
    doc = copy.deepcopy(bundle)
    doc["headers"][0]["header"]["data_hash"] = "00" * 32
    fails_at("block->trust root", doc, validators_trust(bundle))


def test_header_of_a_fork_fails_to_chain(bundle: dict[str, Any]) -> None:
    """A block genuinely signed by the same validators, but not the trusted block's parent."""
    fork, _ = build_chain()
    forked = dataclasses.replace(fork.blocks[4].header, app_hash=b"\x09" * 32)
    lb = LightBlock(forked, sign_commit(fork, forked, fork.sets[4]), fork.sets[4])
    doc = copy.deepcopy(bundle)
    doc["headers"][-1] = section(lb)
    assert "does not chain" in fails_at("block->trust root", doc, validators_trust(bundle))


def test_edited_tx_fails_at_tx_to_block(bundle: dict[str, Any]) -> None:
    doc = copy.deepcopy(bundle)
    other = build_tx(CHAIN_ID, seeded_key("police"), 99, CloseCase(99))
    doc["txs"][1]["tx"] = other.hex()
    doc["txs"][1]["hash"] = hashlib.sha256(other).hexdigest()
    fails_at("tx->block", doc, validators_trust(bundle))
