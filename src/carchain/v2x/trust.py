"""In-memory implementations of the receiver's Protocols: a fixed trust store and a set
of revoked linkage values. The chain-backed ones (the SCMS half) follow the same shape;
these serve offline verification (``carchain v2x verify --ca``), tests and the benchmark."""

from __future__ import annotations

from collections.abc import Iterable

from carchain.v2x.certificates import decode_certificate
from carchain.v2x.receiver import CaRecord


class StaticTrustStore:
    """CAs given up front, by the HashedId8 of their certificate."""

    def __init__(self, records: Iterable[CaRecord] = ()) -> None:
        self._records = {record.hashed_id8: record for record in records}

    def get_ca(self, hashed_id8: bytes) -> CaRecord | None:
        """Return the CA whose certificate has this HashedId8, or None."""
        return self._records.get(hashed_id8)

    def add(self, record: CaRecord) -> None:
        """Trust (or replace) one CA."""
        self._records[record.hashed_id8] = record


def compute_ca_record(ca_certificate: bytes, status: str = "active") -> CaRecord:
    """Return the trust record of a CA certificate (its key, validity and HashedId8)."""
    certificate = decode_certificate(ca_certificate)
    if not certificate.is_ca:
        raise ValueError("not a CA certificate (no certIssuePermissions)")
    return CaRecord(
        hashed_id8=certificate.hashed_id8,
        ca_certificate=certificate.raw,
        public_key=certificate.public_key,
        not_before_s=certificate.start_s,
        not_after_s=certificate.end_s,
        status=status,
    )


class LinkageValueSet:
    """Revoked linkage values per period, precomputed: one set lookup per message."""

    def __init__(self, entries: Iterable[tuple[bytes, int]] = ()) -> None:
        self._entries = set(entries)

    def is_revoked(self, linkage_value9: bytes, i_period: int) -> bool:
        """Return whether this linkage value is revoked in period ``i_period``."""
        return (linkage_value9, i_period) in self._entries

    def add(self, linkage_value9: bytes, i_period: int) -> None:
        """Revoke one linkage value for one period."""
        self._entries.add((linkage_value9, i_period))
