"""A 3-of-4 escrow committee and envelopes sealed to it, for the data-plane tests."""

from __future__ import annotations

from carchain.core.case_records import Custodian, EscrowCommittee
from carchain.crypto.signing import SigningKey
from carchain.data.categories import SENSITIVE_CATEGORIES
from carchain.data.custody import seal_category_key
from carchain.data.escrow_shares import seal_shares
from tests.conftest import seeded_key

OWNER = seeded_key("escrow/owner")
CUSTODIAN = seeded_key("escrow/oem-custodian")
SEATS: list[tuple[str, str]] = [
    ("court-1", "court"),
    ("assoc", "industry_association"),
    ("auditor", "independent_auditor"),
    ("", "oem"),  # VEHICLE_OEM_SEAT: keyed at sealing time
]
SEAT_KEYS: list[SigningKey] = [seeded_key(f"escrow/seat/{m or 'oem'}") for m, _ in SEATS]


def make_committee(version: int = 1, threshold: int = 3, from_epoch: int = 0) -> EscrowCommittee:
    """Return a committee of the four seats (the last an OEM seat, keyed at sealing)."""
    custodians = [
        Custodian(i, member, org, b"" if org == "oem" else key.public_key)
        for i, ((member, org), key) in enumerate(zip(SEATS, SEAT_KEYS, strict=True), start=1)
    ]
    cats = sorted({*(c.value for c in SENSITIVE_CATEGORIES), "crash_pulse"})
    return EscrowCommittee(version, threshold, custodians, cats, from_epoch, 1)


def seal_escrowed(
    key: bytes,
    vehicle_id: str,
    epoch: int,
    category: str,
    committee: EscrowCommittee | None = None,
) -> bytes:
    """Return an envelope of ``key`` escrowed to the committee (sealed to every seat key)."""
    committee = committee or make_committee()
    shares = seal_shares(
        key, vehicle_id, epoch, category, committee, [k.public_key for k in SEAT_KEYS]
    )
    return seal_category_key(
        key,
        vehicle_id,
        epoch,
        category,
        OWNER.public_key,
        CUSTODIAN.public_key,
        committee_version=committee.version,
        escrow=shares,
    )
