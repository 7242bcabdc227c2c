"""docs/formats.md §13 against the code: an access-log export rebuilt from the page.

The signing bytes come from the reference MessagePack encoder and the signature is
checked with libsodium; keys and proofs with the reference state-proof checker.
"""

from __future__ import annotations

import hashlib
import struct

import nacl.bindings

from carchain.sdk.access_log_export import build_access_log_export
from tests.access_log_chain import LogChain, log_chain, test_tx_type
from tests.core.test_vehicles import OWNER
from tests.docs import reference as ref
from tests.docs.reference import mp, u64be

__all__ = ["log_chain", "test_tx_type"]
TAG = b"carchain/access-log-export/v1\x00"


def _solo_block_hash(h: dict[str, object]) -> bytes:
    fields = ["chain_id", "height", "time_ms", "prev_hash", "tx_root", "results_hash"]
    values: list[object] = [h[f] for f in fields[:3]]
    values += [bytes.fromhex(str(h[f])) for f in fields[3:]]
    values += [bytes.fromhex(str(h["app_hash"])), bytes.fromhex(str(h["proposer"]))]
    tag = b"carchain/block-header/v1"
    return hashlib.sha256(struct.pack(">H", len(tag)) + tag + mp(values)).digest()


def test_export_layout_signature_and_keys(log_chain: LogChain) -> None:
    log_chain.register("saic:1")
    log_chain.append("saic:1", 3)
    doc = build_access_log_export(log_chain.sdk(), OWNER, "saic:1", all_pages=True)
    block_hash = _solo_block_hash(doc["block"]["header"])
    assert block_hash.hex() == doc["block"]["hash"]
    entries = [
        [e["seq"], bytes.fromhex(e["key"]), bytes.fromhex(e["value"])] for e in doc["events"]
    ]
    payload = [
        doc["chain_id"],
        doc["vehicle_id"],
        doc["height"],
        doc["proof_height"],
        bytes.fromhex(doc["app_hash"]),
        block_hash,
        doc["size"],
        doc["from_seq"],
        doc["to_seq"],
        entries,
        bytes.fromhex(doc["exporter"]),
    ]
    message = TAG + mp(payload)
    signed = bytes.fromhex(doc["signature"]) + message
    assert nacl.bindings.crypto_sign_open(signed, bytes.fromhex(doc["exporter"])) == message
    app_hash = bytes.fromhex(doc["app_hash"])
    for e in doc["events"]:
        assert bytes.fromhex(e["key"]) == b"log/saic:1/" + u64be(e["seq"])
        ref.check_state_proof(
            app_hash, "access", bytes.fromhex(e["key"]), bytes.fromhex(e["value"]), e["proof"]
        )
    size = doc["size_proof"]
    assert bytes.fromhex(size["key"]) == b"logn/saic:1" and bytes.fromhex(size["value"]) == u64be(3)
    ref.check_state_proof(app_hash, "access", b"logn/saic:1", u64be(3), size["proof"])
    assert bytes.fromhex(doc["vehicle"]["key"]) == b"v/saic:1"
