"""Evidence links on a live solo chain, one at a time: tx -> block -> trust root, and a
decrypted segment -> batch -> anchor -> app hash. Each tampering fails at its link."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from carchain.core.transactions import Envelope
from carchain.data.batches import decode_signed_header
from carchain.data.projections import Projection
from carchain.errors import InvalidProof
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.evidence_chain import (
    build_case_txs,
    build_header_chain,
    verify_header_chain,
    verify_top_block,
    verify_tx_entries,
)
from carchain.sdk.evidence_records import (
    build_segment_proof,
    compute_record_doc,
    verify_segment,
)
from carchain.sdk.record_proofs import build_block_section
from tests.dataplane import World, anchored_edr


def is_anchor(env: Envelope, height: int) -> bool:
    return env.type == "anchor.submit"


@pytest.fixture(scope="module")
def chain(world: World) -> dict[str, Any]:
    """Anchor txs of a stretch of the chain with their proofs, headers and top block."""
    first = int(world.client.status()["height"]) + 1
    for i in range(3):  # three anchors, each in its own block, blocks in between
        world.register(f"saic:ev-chain-{i}")
        anchored_edr(world, f"saic:ev-chain-{i}")
    top = int(world.client.status()["height"])
    return {
        "txs": build_case_txs(world.client, first, top, is_anchor),
        "headers": build_header_chain(world.client, first, top, None),
        "block": build_block_section(world.client, top, None),
    }


def check(doc: dict[str, Any], trust: BlockTrust | None = None) -> int:
    trust = trust or BlockTrust(trusted_hash=bytes.fromhex(doc["block"]["hash"]))
    top, block = verify_top_block(doc["block"], trust)
    blocks = verify_header_chain(doc["headers"], block, top.engine)
    return len(verify_tx_entries(doc["txs"], blocks, top.chain_id))


def fails_at(link: str, doc: dict[str, Any], trust: BlockTrust | None = None) -> str:
    with pytest.raises(InvalidProof) as exc:
        check(json.loads(json.dumps(doc)), trust)
    assert exc.value.fields.get("link") == link, exc.value.message
    return exc.value.message


def test_anchor_txs_are_proven_in_blocks_chained_to_the_trusted_one(chain: dict[str, Any]) -> None:
    assert chain["txs"] and check(chain) == len(chain["txs"])


def test_edited_tx_fails_at_tx_to_block(chain: dict[str, Any]) -> None:
    doc = copy.deepcopy(chain)
    raw = bytearray.fromhex(doc["txs"][0]["tx"])
    raw[-1] ^= 1
    doc["txs"][0]["tx"] = raw.hex()
    fails_at("tx->block", doc)


def test_tx_moved_to_another_index_fails(chain: dict[str, Any]) -> None:
    doc = copy.deepcopy(chain)
    doc["txs"][0]["index"] += 1
    fails_at("tx->block", doc)


def test_swapped_tx_proof_fails(chain: dict[str, Any]) -> None:
    doc = copy.deepcopy(chain)
    doc["txs"][0]["proof"], doc["txs"][1]["proof"] = doc["txs"][1]["proof"], doc["txs"][0]["proof"]
    fails_at("tx->block", doc)


def test_changed_header_breaks_the_chain_to_the_trusted_block(chain: dict[str, Any]) -> None:
    doc = copy.deepcopy(chain)
    h = doc["headers"][0]
    h["header"]["time_ms"] += 1  # recomputed hash changes; stated hash kept
    assert "hash" in fails_at("block->trust root", doc)
    from carchain.sdk.bundle_block import compute_block_section_hash

    h["hash"] = compute_block_section_hash(h)[1].hex()  # consistent, but not chained
    assert "does not chain" in fails_at("block->trust root", doc)


def test_dropped_header_breaks_the_chain(chain: dict[str, Any]) -> None:
    doc = copy.deepcopy(chain)
    assert len(doc["headers"]) >= 3
    del doc["headers"][len(doc["headers"]) // 2]
    fails_at("block->trust root", doc)


def test_wrong_trust_hash_fails_at_block_to_trust_root(chain: dict[str, Any]) -> None:
    fails_at("block->trust root", chain, BlockTrust(trusted_hash=b"\x01" * 32))


def test_tx_of_a_block_outside_the_chain_fails(chain: dict[str, Any]) -> None:
    doc = copy.deepcopy(chain)
    doc["txs"][0]["height"] = doc["block"]["header"]["height"] + 5
    fails_at("tx->block", doc)


# --- a decrypted segment down to the app hash --------------------------------------------


@pytest.fixture(scope="module")
def segment(world: World) -> dict[str, Any]:
    """A decrypted segment of an anchored batch, its proof at the latest state height."""
    opened, _, batch = anchored_edr(world, "saic:car-1")
    height = int(world.client.status()["height"])
    cat = "motion"
    seg = opened[cat]
    proof = build_segment_proof(cat, seg.projections, seg.segment_key, batch, world.client, height)
    signed = decode_signed_header(bytes.fromhex(batch["batch_header"]))
    from carchain.data.batches import compute_header_hash

    return {
        "proof": proof,
        "records": json.loads(json.dumps(compute_record_doc(seg.projections))),
        "where": ("saic:car-1", compute_header_hash(bytes.fromhex(batch["batch_header"])), cat),
        "app_hash": bytes.fromhex(world.client.block(height)["app_hash"]),
        "height": height,
        "vehicle": signed.header.vehicle_id,
        "chain_id": world.client.status()["chain_id"],
    }


def verify(s: dict[str, Any]) -> Any:
    return verify_segment(s["proof"], s["records"], s["where"], s["app_hash"], s["height"],
                          s["chain_id"])  # fmt: skip


def seg_fails_at(link: str, s: dict[str, Any]) -> str:
    with pytest.raises(InvalidProof) as exc:
        verify(s)
    assert exc.value.fields.get("link") == link, exc.value.message
    return exc.value.message


def test_segment_verifies_to_the_app_hash(segment: dict[str, Any]) -> None:
    v = verify(segment)
    assert v.vehicle_id == "saic:car-1" and v.records == len(segment["records"]) > 0


def test_edited_record_field_fails_at_record_to_batch(segment: dict[str, Any]) -> None:
    s = copy.deepcopy(segment)
    field = next(iter(s["records"][0]["fields"]))
    s["records"][0]["fields"][field] = 12345.5
    seg_fails_at("record->batch", s)


def test_dropped_record_fails_at_record_to_batch(segment: dict[str, Any]) -> None:
    s = copy.deepcopy(segment)
    del s["records"][0]
    seg_fails_at("record->batch", s)
    del s["proof"]["leaves"][0]  # the proof dropped too: the header's count and root
    seg_fails_at("record->batch", s)


def test_edited_projection_in_proof_fails_at_record_to_batch(segment: dict[str, Any]) -> None:
    from carchain.data.projections import encode_projection

    s = copy.deepcopy(segment)
    r = s["records"][0]
    r["fields"][next(iter(r["fields"]))] = 99.5
    p = Projection(r["kind"], r["index"], r["fields"])
    s["proof"]["leaves"][0]["projection"] = encode_projection(p).hex()
    assert "segment root" in seg_fails_at("record->batch", s)


def test_batch_proof_of_another_batch_fails_at_batch_to_anchor(segment: dict[str, Any]) -> None:
    s = copy.deepcopy(segment)
    s["proof"]["batch_proof"]["leaf_hash"] = "00" * 32
    seg_fails_at("batch->anchor", s)


def test_edited_anchor_tx_fails_at_batch_to_anchor(segment: dict[str, Any]) -> None:
    s = copy.deepcopy(segment)
    raw = bytearray.fromhex(s["proof"]["anchor_tx"])
    raw[-5] ^= 1
    s["proof"]["anchor_tx"] = raw.hex()
    seg_fails_at("batch->anchor", s)


def test_anchor_state_proof_against_another_app_hash_fails(segment: dict[str, Any]) -> None:
    s = copy.deepcopy(segment)
    s["app_hash"] = b"\x02" * 32
    seg_fails_at("anchor->app hash", s)


def test_swapped_state_proof_fails_at_anchor_to_app_hash(segment: dict[str, Any]) -> None:
    s = copy.deepcopy(segment)
    st = s["proof"]["state"]
    st["anchor"]["proof"] = st["vehicle"]["proof"]
    seg_fails_at("anchor->app hash", s)


def test_records_file_of_another_vehicle_fails(segment: dict[str, Any]) -> None:
    s = copy.deepcopy(segment)
    s["where"] = ("saic:other", *s["where"][1:])
    seg_fails_at("record->batch", s)
