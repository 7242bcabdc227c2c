"""A read-only view of committed state at ONE height where every read is proven.

Core's own readers (``get_case``, ``get_committee_for_epoch``, ``get_member``) run over
it, so a client re-checks a rule from state with the chain's code and trusts the node
for nothing but the block header whose app hash it checks against (``app_hash``; on a
network, check that header's commit as ``carchain.sdk.access_log_trust`` does).
A key the node says is absent reads as ``None``: absence has no proof, so readers
that rely on a key's presence must treat ``None`` as a failure.
"""

from __future__ import annotations

from typing import Any

from carchain.core.state import ReadOnlyKVView
from carchain.errors import InvalidProof, NotFound
from carchain.sdk.access_log import parse_hex_field, parse_int_field
from carchain.sdk.client import Client
from carchain.sdk.proofs import verify_state_proof


class ProvenView(ReadOnlyKVView):
    """Committed state at ``height``, each value checked under ``app_hash``."""

    def __init__(self, client: Client, store: str, key: bytes) -> None:
        """Fix the height with a first read (``store/key``, latest) and its header."""
        doc = client.query(store, key, prove=True)
        self.client = client
        self.height = parse_int_field(doc, "height") or 0
        self.proof_height = parse_int_field(doc, "proof_height", optional=True) or self.height
        try:
            self.app_hash = bytes.fromhex(str(client.header(self.proof_height)["app_hash"]))
        except (KeyError, ValueError) as exc:
            raise InvalidProof("the node's block header has no usable app hash") from exc
        self.docs: dict[tuple[str, bytes], dict[str, Any]] = {}

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the proven value of ``store/key`` at the view's height, or ``None``."""
        try:
            doc = self.client.query(store, key, prove=True, height=self.height)
        except NotFound:
            return None
        if parse_int_field(doc, "height") != self.height:
            raise InvalidProof("the node answered at another height", height=self.height)
        if parse_hex_field(doc, "key") != key:
            raise InvalidProof("the node proved another key", value=key.hex())
        value = parse_hex_field(doc, "value")
        proof = doc.get("proof")
        if not isinstance(proof, list):
            raise InvalidProof("the node's proof is not a list")
        verify_state_proof(self.app_hash, store, key, value, proof)
        self.docs[(store, key)] = {
            "store": store,
            "key": key.hex(),
            "value": value.hex(),
            "proof": proof,
        }
        return value

    def get_proven(self, store: str, key: bytes) -> dict[str, Any]:
        """Return the proven JSON ``{store, key, value, proof}`` of a key that must exist."""
        if self.get(store, key) is None:
            raise InvalidProof("a key that must exist is absent", value=key.hex())
        return self.docs[(store, key)]
