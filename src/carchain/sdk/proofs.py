"""Checking state proofs offline against an app hash."""

from __future__ import annotations

from typing import Any

from carchain.crypto.merkle import MerkleProof, compute_kv_leaf
from carchain.errors import InvalidProof


def verify_state_proof(
    app_hash: bytes, store: str, key: bytes, value: bytes, proof_ops: list[Any]
) -> None:
    """Raise ``InvalidProof`` unless ``store/key = value`` is committed under ``app_hash``.

    ``proof_ops`` are the two ``simple:v`` ops the API returns: the first proves
    the key/value leaf under the store root, the second the store root under
    the app hash, as CometBFT's ``ProofRuntime`` applies them.
    """
    if not isinstance(proof_ops, list) or len(proof_ops) != 2:
        raise InvalidProof("expected two proof ops")
    for op in proof_ops:
        if not isinstance(op, dict) or op.get("type") != "simple:v":
            raise InvalidProof("unsupported proof op")
    try:
        op_key = bytes.fromhex(str(proof_ops[0]["key"]))
        op_store = bytes.fromhex(str(proof_ops[1]["key"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidProof("malformed proof op key") from exc
    if op_key != key or op_store != store.encode():
        raise InvalidProof("proof is for another key or store")
    value_proof = MerkleProof.from_dict(proof_ops[0].get("proof"))
    store_proof = MerkleProof.from_dict(proof_ops[1].get("proof"))
    store_root = value_proof.compute_root()
    value_proof.verify(store_root, compute_kv_leaf(key, value))
    store_proof.verify(app_hash, compute_kv_leaf(store.encode(), store_root))
