"""Gateway reads under a lawful-access case, as the custodian service and the officer
make them: ``GatewayClient``'s reads with ``case_id`` (anchored batches only).

The gateway serves a case's officer (and, for listings and key envelopes, the
case's custodians) the batches, segments, proofs and envelopes of the case's
authorised scope only, while the case is authorised and unexpired; every read
is signed like any other (``sdk/request_signing.py``).
"""

from __future__ import annotations

from typing import Any

from carchain.sdk.gateway_client import GatewayClient


class CaseGatewayClient(GatewayClient):
    """A gateway client whose reads name a case."""

    def case_batches(
        self, case_id: int, vehicle_id: str, start_ms: int, end_ms: int
    ) -> list[dict[str, Any]]:
        """Return the vehicle's anchored batches overlapping ``[start_ms, end_ms]`` (case)."""
        return self.batches(vehicle_id, start_ms, end_ms, anchored_only=True, case_id=case_id)

    def case_key_envelope(self, case_id: int, key_ref: bytes) -> bytes:
        """Return a category key envelope under the case."""
        return self.key_envelope(key_ref, case_id=case_id)

    def case_batch_proof(self, case_id: int, header_hash: bytes) -> dict[str, Any]:
        """Return a batch's signed header, its proof to the gateway root and the anchor tx."""
        return self.batch_proof(header_hash, case_id=case_id)

    def case_segment_ciphertext(self, case_id: int, header_hash: bytes, category: str) -> bytes:
        """Return one category segment's ciphertext of a batch under the case."""
        return self.segment_ciphertext(header_hash, category, case_id=case_id)
