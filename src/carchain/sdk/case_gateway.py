"""Gateway reads under a lawful-access case: the same routes, with ``case_id``.

The gateway serves a case's officer (and, for listings and key envelopes, the
case's custodians) the batches, segments, proofs and envelopes of the case's
authorised scope only, while the case is authorised and unexpired; every read
is signed like any other (``sdk/request_signing.py``).
"""

from __future__ import annotations

from typing import Any

from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.http import decode_object, get_object_list


class CaseGatewayClient(GatewayClient):
    """A gateway client whose reads name a case (``?case_id=``)."""

    def case_batches(
        self, case_id: int, vehicle_id: str, start_ms: int, end_ms: int
    ) -> list[dict[str, Any]]:
        """Return the vehicle's anchored batches overlapping ``[start_ms, end_ms]`` (case)."""
        params = {
            "vehicle_id": vehicle_id,
            "start_ms": start_ms,
            "end_ms": end_ms,
            "anchored_only": "true",
            "case_id": case_id,
        }
        doc = decode_object(self._signed_get("/batches", params), self.service)
        return get_object_list(doc, "batches", self.service)

    def case_key_envelope(self, case_id: int, key_ref: bytes) -> bytes:
        """Return a category key envelope under the case."""
        return self._signed_get(f"/keys/{key_ref.hex()}", {"case_id": case_id}).content

    def case_batch_proof(self, case_id: int, header_hash: bytes) -> dict[str, Any]:
        """Return a batch's signed header, its proof to the gateway root and the anchor tx."""
        resp = self._signed_get(f"/batches/{header_hash.hex()}/proof", {"case_id": case_id})
        return decode_object(resp, self.service)

    def case_segment_ciphertext(self, case_id: int, header_hash: bytes, category: str) -> bytes:
        """Return one category segment's ciphertext of a batch under the case."""
        path = f"/batches/{header_hash.hex()}/segments/{category}/ciphertext"
        return self._signed_get(path, {"case_id": case_id}).content
