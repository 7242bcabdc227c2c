"""The escrow committee a car seals its shares to: committee(epoch) and its seat keys.

The car asks its node (``GET /escrow/committee?epoch=E&oem=O``) once per epoch:
the committee in force for an epoch is fixed once the chain has reached it (a
change takes effect from the next UTC day). The gateway checks every envelope's
shares against its own view of the chain, so a node that lied here would only
get the car's uploads refused, never a share sealed to a key outside the committee
accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from carchain.core.case_records import EscrowCommittee
from carchain.errors import NodeUnavailable, NotFound
from carchain.sdk.client import Client

MAX_CACHED_EPOCHS = 8


@dataclass(frozen=True, slots=True)
class EscrowSeats:
    """A committee in force and the key of each of its seats (in seat order)."""

    committee: EscrowCommittee
    seat_keys: list[bytes]


class EscrowSource(Protocol):
    """Where a car learns the committee of an epoch."""

    def get_escrow_seats(self, epoch: int) -> EscrowSeats | None:
        """Return the committee in force for ``epoch`` and its seat keys, or ``None``."""


def parse_escrow_seats(doc: dict[str, Any]) -> EscrowSeats:
    """Return the seats of a ``GET /escrow/committee`` answer; ``NodeUnavailable`` if it
    is not one (keys not 32-byte hex, not one per seat)."""
    try:
        raw = dict(doc["committee"])
        raw["custodians"] = [
            {**c, "escrow_key": bytes.fromhex(c["escrow_key"])} for c in raw["custodians"]
        ]
        committee = msgspec.convert(raw, EscrowCommittee)
        keys = [bytes.fromhex(k) for k in doc["seat_keys"]]
    except (KeyError, TypeError, ValueError, msgspec.ValidationError) as exc:
        raise NodeUnavailable(f"not an escrow committee answer: {exc}") from exc
    if len(keys) != len(committee.custodians) or any(len(k) != 32 for k in keys):
        raise NodeUnavailable("escrow committee answer lacks a 32-byte key per seat")
    return EscrowSeats(committee, keys)


class ChainEscrowSource:
    """Reads committee(epoch) for a vehicle of ``oem`` from a node, once per epoch."""

    def __init__(self, client: Client, oem: str) -> None:
        self.client = client
        self.oem = oem
        self._cache: dict[int, EscrowSeats | None] = {}

    def get_escrow_seats(self, epoch: int) -> EscrowSeats | None:
        """Return the seats of ``epoch``'s committee (``None`` if there is none)."""
        if epoch in self._cache:
            return self._cache[epoch]
        try:
            seats: EscrowSeats | None = parse_escrow_seats(
                self.client.escrow_committee(epoch, self.oem)
            )
        except NotFound:
            seats = None
        if len(self._cache) >= MAX_CACHED_EPOCHS:
            self._cache.clear()
        self._cache[epoch] = seats
        return seats
