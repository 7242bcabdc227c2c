"""Owner accounts: a vehicle's registered owner signs transactions about that vehicle.

An owner is not a consortium member; it is whoever holds the account key the
vehicle's registry entry names. It uses the same per-signer nonces as members
(``accounts``), and one key for all of its vehicles: admission matches the
signer to the CURRENT owner of the vehicle the body names, so a previous owner
or the owner of another vehicle is refused before the transaction costs state.
One exception: a previous owner may ask for the erasure of the data of its own
past ownership period (PIPL art. 47; ``admit_window_owner``), found in the
owner history by a binary search (log2(transfers) reads of ``vehicles``).
"""

from __future__ import annotations

from typing import Protocol

from carchain.core.state import KVView, get_record_optional
from carchain.core.vehicles import (
    STORE,
    OwnerPeriod,
    Vehicle,
    compute_owner_period_key,
    get_vehicle_optional,
)
from carchain.errors import InvalidBody, NotFound, Unauthorized

# What ``admit_owner`` reads.
ADMISSION_READS = frozenset({"vehicles"})


class AboutVehicle(Protocol):
    """A transaction body about one vehicle."""

    @property
    def vehicle_id(self) -> str:
        """The vehicle the body is about."""


class AboutWindow(AboutVehicle, Protocol):
    """A transaction body about one vehicle's data of a time window."""

    @property
    def data_from_ms(self) -> int:
        """The window's first ms."""

    @property
    def data_until_ms(self) -> int:
        """The window's last ms (inclusive)."""


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


def get_past_period_of(view: KVView, vehicle: Vehicle, time_ms: int) -> OwnerPeriod | None:
    """Return the past ownership period holding ``time_ms`` (the first one also holds
    the time before the registration), or ``None``: a binary search over the periods,
    oldest first, so log2(transfers) reads whatever the vehicle's history."""
    lo, hi, found = 0, vehicle.transfer_seq - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        key = compute_owner_period_key(vehicle.vehicle_id, mid)
        period = get_record_optional(view, STORE, key, OwnerPeriod)
        if period is None:
            return None
        if mid == 0 or period.since_ms <= time_ms:
            found, lo = period, mid + 1
        else:
            hi = mid - 1
    return found if found is not None and time_ms < found.until_ms else None


def validate_window_owner(
    view: KVView, signer: bytes, vehicle_id: str, from_ms: int, until_ms: int
) -> Vehicle:
    """Return the vehicle if ``signer`` owned it over the whole (inclusive) window
    ``[from_ms, until_ms]``: its current owner (from its ownership on only, ``InvalidBody``
    otherwise) or the owner of the past period that holds the window."""
    vehicle = get_vehicle_optional(view, vehicle_id)
    if vehicle is None:
        raise NotFound("no such vehicle", vehicle_id=vehicle_id[:128])
    if vehicle.owner == signer:
        if vehicle.transfer_seq and from_ms < vehicle.owner_since_ms:
            raise InvalidBody("the window may not cover data from before the owner's ownership")
        return vehicle
    period = get_past_period_of(view, vehicle, from_ms)
    if period is None or period.owner != signer or until_ms >= period.until_ms:
        raise Unauthorized(
            "signer did not own the vehicle over the whole window", vehicle_id=vehicle_id
        )
    return vehicle


def admit_window_owner(view: KVView, signer: bytes, body: AboutWindow) -> None:
    """Mempool admission: raise unless ``signer`` owned ``body.vehicle_id`` over the body's
    whole data window (``validate_window_owner``)."""
    validate_window_owner(view, signer, body.vehicle_id, body.data_from_ms, body.data_until_ms)
