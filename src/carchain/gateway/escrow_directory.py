"""Where the ingest gateway looks up the escrow committee an envelope's shares must match.

The committee in force for an epoch is fixed once the chain has reached that epoch
(a change takes effect from the next UTC day), and the gateway accepts only
current and recent epochs, so a short cache is safe; the vehicle-OEM seat's key
(the OEM's registered escrow key, else its member key) may change, so it is
cached briefly (``max_age_s``, default 1 s).
"""

from __future__ import annotations

import time
from typing import Protocol

from carchain.core import escrow_committee
from carchain.core.case_records import VEHICLE_OEM_SEAT, Custodian, EscrowCommittee
from carchain.core.state import KVView

MAX_CACHED = 10_000


class EscrowDirectory(Protocol):
    """The escrow committee as the gateway sees it (the chain's committed state)."""

    def get_committee(self, epoch: int) -> EscrowCommittee | None:
        """Return the committee in force for ``epoch`` (``None``: no committee yet)."""

    def get_seat_key(self, custodian: Custodian, oem: str) -> bytes:
        """Return the key a share for this seat is sealed to, for a vehicle of ``oem``."""


class NoEscrowCommittee:
    """A directory without any committee: every envelope must carry no escrow share."""

    def get_committee(self, epoch: int) -> EscrowCommittee | None:
        """Return ``None``: there is no committee."""
        return None

    def get_seat_key(self, custodian: Custodian, oem: str) -> bytes:
        """Never called without a committee; return the seat's registered key."""
        return custodian.escrow_key


class ChainEscrowDirectory:
    """Reads the committee and seat keys from committed state (a node's ``ChainView``),
    each cached for ``max_age_s``."""

    def __init__(self, view: KVView, max_age_s: float = 1.0) -> None:
        self.view = view
        self.max_age_s = max_age_s
        self._committees: dict[int, tuple[float, EscrowCommittee | None]] = {}
        self._oem_keys: dict[str, tuple[float, bytes]] = {}

    def get_committee(self, epoch: int) -> EscrowCommittee | None:
        """Return the committee in force for ``epoch`` as committed on chain."""
        now = time.monotonic()
        hit = self._committees.get(epoch)
        if hit is not None and now - hit[0] < self.max_age_s:
            return hit[1]
        committee = escrow_committee.get_committee_for_epoch(self.view, epoch)
        if self.max_age_s > 0:
            if len(self._committees) > MAX_CACHED:
                self._committees.clear()
            self._committees[epoch] = (now, committee)
        return committee

    def get_seat_key(self, custodian: Custodian, oem: str) -> bytes:
        """Return the seat's key for a vehicle of ``oem`` as committed on chain."""
        if custodian.member_id != VEHICLE_OEM_SEAT:
            return escrow_committee.get_seat_key(self.view, custodian, oem)
        now = time.monotonic()
        hit = self._oem_keys.get(oem)
        if hit is not None and now - hit[0] < self.max_age_s:
            return hit[1]
        key = escrow_committee.get_seat_key(self.view, custodian, oem)
        if self.max_age_s > 0:
            if len(self._oem_keys) > MAX_CACHED:
                self._oem_keys.clear()
            self._oem_keys[oem] = (now, key)
        return key
