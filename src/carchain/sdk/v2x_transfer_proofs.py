"""Proving a car-to-car transfer from the two cars' anchored exchange-log records.

Each car logged the same signed transfer and receipt as a ``v2x_transfer`` record in
its own batches, signed by its vehicle key and anchored by its OEM. Given the two
record proofs (``carchain.sdk.record_proofs``), this shows: the sender car logged
that it sent, the receiver car logged that it received and acknowledged, the
transfer is signed by the sender's pseudonym and the receipt by the pseudonym the
transfer names, at the times they state; and, with the data and salt, that the data
is what was sent. The chain holds only anchored roots: it never learned the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carchain.data.records import V2xTransfer
from carchain.errors import InvalidTransfer
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.record_proofs import VerifiedRecord, verify_record_proof
from carchain.v2x.ca_trust import ChainCaTrustStore
from carchain.v2x.transfer import (
    decode_transfer_record,
    validate_data,
    verify_transfer_and_receipt,
)


@dataclass(frozen=True)
class ProvenTransfer:
    """What the two proofs establish together."""

    sender_vehicle: str
    receiver_vehicle: str
    sent_ms: int
    received_ms: int
    data_commitment: bytes
    sender_id8: bytes
    receiver_id8: bytes
    sender_anchor_height: int
    receiver_anchor_height: int
    data_checked: bool


def _get_transfer_record(verified: VerifiedRecord, role: str) -> V2xTransfer:
    if verified.kind != "v2x_transfer":
        raise InvalidTransfer("the proven record is not a V2X transfer", reason="kind")
    rec = verified.record
    if rec.get("role") != role or rec.get("transfer") is None or rec.get("receipt") is None:
        raise InvalidTransfer(f"the proven record is not the {role}'s log", reason="role")
    return V2xTransfer(
        rec.get("time_ms"), role, bytes.fromhex(rec["transfer"]), bytes.fromhex(rec["receipt"])
    )


def verify_transfer_proofs(
    sender_bundle: Any,
    receiver_bundle: Any,
    sender_trust: BlockTrust,
    receiver_trust: BlockTrust,
    data: bytes | None = None,
    salt: bytes | None = None,
    ca_trust: ChainCaTrustStore | None = None,
) -> ProvenTransfer:
    """Check both record proofs (each against its own trust root: the two cars' batches
    are anchored in different blocks) and the exchange they hold; raise naming the failed
    link."""
    sent = verify_record_proof(sender_bundle, sender_trust)
    got = verify_record_proof(receiver_bundle, receiver_trust)
    if sent.vehicle_id == got.vehicle_id:
        raise InvalidTransfer("sender and receiver are the same car", reason="vehicles")
    pair = decode_transfer_record(_get_transfer_record(sent, "sender"))
    if decode_transfer_record(_get_transfer_record(got, "receiver")) != pair:
        raise InvalidTransfer("the two cars logged different exchanges", reason="mismatch")
    verified = verify_transfer_and_receipt(*pair, trust=ca_trust)
    if data is not None:
        if salt is None:
            raise InvalidTransfer("checking the data needs its salt", reason="salt")
        validate_data(verified, data, salt)
    return ProvenTransfer(
        sent.vehicle_id, got.vehicle_id, verified.sent_ms, verified.received_ms,
        verified.data_commitment, verified.sender_id8, verified.receiver_id8,
        sent.anchor_height, got.anchor_height, data is not None,
    )  # fmt: skip
