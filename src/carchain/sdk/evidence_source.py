"""The officer's source of what a data directory lacks: batch proofs and segment keys.

The exporter re-proves each decrypted segment; its leaves are salted under the
segment key (``carchain.crypto.kdf``), which the officer re-derives as ``case fetch``
did: the category key combined from at least k released shares (opened with the
officer key; checked against the envelope's ``key_check``), then the batch's segment
key. Batch proofs and envelopes come from the vehicle's OEM gateway, read with the
case id, so the export runs while the case is authorised and unexpired (the gateway
serves case reads only then). A segment key the data directory's ``case.json`` lists
(``items[].segment_key``, hex) is taken as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from carchain.core.case_records import EscrowCommittee
from carchain.core.vehicles import get_vehicle
from carchain.crypto.signing import SigningKey
from carchain.data.batches import BatchHeader, compute_batch_segment_key, get_segment
from carchain.data.custody import CategoryKeyEnvelope, validate_envelope_for
from carchain.errors import GatewayNotConfigured, ProofUnavailable
from carchain.sdk import cases
from carchain.sdk.case_gateway import CaseGatewayClient
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.evidence_export import DataSegment
from carchain.sdk.officer import KeyRing, collect_shares, get_committee_getter

SegmentWhere = tuple[str, bytes, str]  # vehicle, header hash, category


class OfficerSource:
    """Batch proofs from the OEMs' gateways, segment keys from the released shares."""

    def __init__(
        self,
        client: Client,
        gateways: dict[str, CaseGatewayClient],
        case_id: int,
        officer_key: SigningKey,
        known_keys: dict[SegmentWhere, bytes] | None = None,
    ) -> None:
        self.view = ChainView(client)
        self.gateways = gateways
        self.case_id = case_id
        self.known = known_keys or {}
        self._oems: dict[str, str] = {}  # vehicle -> OEM, read once each
        case = cases.get_case(self.view, case_id)
        committee_of: Callable[[int], EscrowCommittee | None] = get_committee_getter(self.view)
        self.ring = KeyRing(
            collect_shares(self.view, case, officer_key, committee_of), committee_of
        )

    def get_gateway(self, vehicle_id: str) -> CaseGatewayClient:
        """Return the gateway of the vehicle's OEM (the OEM read once per vehicle)."""
        if vehicle_id not in self._oems:
            self._oems[vehicle_id] = get_vehicle(self.view, vehicle_id).oem
        oem = self._oems[vehicle_id]
        if oem not in self.gateways:
            raise GatewayNotConfigured("no --gateway serves this OEM", oem=oem)
        return self.gateways[oem]

    def get_batch_proof(self, vehicle_id: str, header_hash: bytes) -> dict[str, Any]:
        """Return the batch proof, read from the OEM's gateway under the case."""
        return self.get_gateway(vehicle_id).case_batch_proof(self.case_id, header_hash)

    def get_segment_key(self, segment: DataSegment, header: BatchHeader) -> bytes:
        """Return the segment key: listed in the data directory, or re-derived."""
        where = (segment.vehicle_id, segment.header_hash, segment.category)
        if where in self.known:
            return self.known[where]
        ref = get_segment(header, segment.category).key_ref
        gw = self.get_gateway(segment.vehicle_id)

        def get_envelope() -> CategoryKeyEnvelope:
            """Return the key's envelope, checked to be the one the header names."""
            raw = gw.case_key_envelope(self.case_id, ref)
            return validate_envelope_for(
                raw, ref, header.vehicle_id, header.epoch, segment.category
            )

        key = self.ring.get_key((header.vehicle_id, header.epoch, segment.category), get_envelope)
        if key is None:
            raise ProofUnavailable(
                "fewer than k shares of a segment's key were released: its leaves cannot be "
                "salted again",
                field=segment.category,
            )
        return compute_batch_segment_key(header, segment.category, key)
