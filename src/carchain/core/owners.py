"""Owner accounts: a vehicle's registered owner signs transactions about that vehicle.

An owner is not a consortium member; it is whoever holds the account key the
vehicle's registry entry names. It uses the same per-signer nonces as members
(``accounts``), and one key for all of its vehicles: admission matches the
signer to the CURRENT owner of the vehicle the body names, so a previous owner
or the owner of another vehicle is refused before the transaction costs state.
"""

from __future__ import annotations

from typing import Protocol

from carchain.core.state import KVView
from carchain.core.vehicles import Vehicle, get_vehicle_optional
from carchain.errors import NotFound, Unauthorized

# What ``admit_owner`` reads.
ADMISSION_READS = frozenset({"vehicles"})


class AboutVehicle(Protocol):
    """A transaction body about one vehicle."""

    @property
    def vehicle_id(self) -> str:
        """The vehicle the body is about."""


def validate_owner(view: KVView, signer: bytes, vehicle_id: str) -> Vehicle:
    """Return the vehicle if ``signer`` is its current owner; raise otherwise."""
    vehicle = get_vehicle_optional(view, vehicle_id)
    if vehicle is None:
        raise NotFound("no such vehicle", vehicle_id=vehicle_id[:128])
    if vehicle.owner != signer:
        raise Unauthorized("signer is not the vehicle's current owner", vehicle_id=vehicle_id)
    return vehicle


def admit_owner(view: KVView, signer: bytes, body: AboutVehicle) -> None:
    """Mempool admission: raise ``Unauthorized`` unless ``signer`` owns ``body.vehicle_id``."""
    validate_owner(view, signer, body.vehicle_id)
