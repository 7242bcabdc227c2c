"""The fleet: cars of several OEMs (one of them a foreign brand), their owners and the
consent choices those owners made, all drawn from a seeded random generator.

The mix is meant to look like a Chinese city's: domestic SAIC and Geely cars and a
foreign brand (Volkswagen, through its Chinese joint venture); most owners accept
maintenance diagnostics with their own OEM, about a third a usage-based insurance
offer, few the map provider's request for their location (sensitive personal
information: a separate consent), some nothing at all. Keys are derived from the
seed, so the same seed gives the same vehicle ids, keys and owners.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from carchain.core.consents import Purpose
from carchain.core.vehicles import compute_vehicle_id
from carchain.crypto.signing import SigningKey

KEY_DOMAIN = b"carchain-sim:key:"


@dataclass(frozen=True, slots=True)
class Model:
    """A car model and its kerb mass (for the crash's momentum exchange)."""

    name: str
    mass_kg: int


@dataclass(frozen=True, slots=True)
class Brand:
    """An OEM member of the consortium, the models it sells and its share of the fleet."""

    oem: str
    name: str
    foreign: bool
    share: float
    models: tuple[Model, ...]


BRANDS: tuple[Brand, ...] = (
    Brand("saic", "SAIC", False, 0.40, (Model("Roewe RX5", 1_600), Model("MG4 EV", 1_650))),
    Brand("geely", "Geely", False, 0.35, (Model("Galaxy E8", 1_900), Model("Zeekr 001", 2_300))),
    Brand("vw-china", "Volkswagen", True, 0.25, (Model("Lavida", 1_300), Model("ID.4", 2_100))),
)
BRANDS_BY_OEM = {b.oem: b for b in BRANDS}

# (purpose, share of owners who accept it, the categories it covers)
CONSENT_MIX: tuple[tuple[Purpose, float, tuple[str, ...]], ...] = (
    (Purpose.MAINTENANCE_DIAGNOSTICS, 0.70, ("diagnostics", "vehicle_status")),
    (Purpose.INSURANCE, 0.35, ("motion", "time", "crash_pulse")),
    (Purpose.NAVIGATION_MAPS, 0.12, ("location", "time")),
    (Purpose.RESEARCH, 0.05, ("motion", "diagnostics")),
)


@dataclass(frozen=True, slots=True)
class ConsentChoice:
    """One purpose an owner accepted, and for which categories."""

    purpose: str
    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Car:
    """A car of the fleet: who makes it, what it is, who owns it, what the owner allows."""

    index: int
    vehicle_id: str
    oem: str
    model: Model
    year: int
    vin: str
    consents: tuple[ConsentChoice, ...]

    @property
    def foreign(self) -> bool:
        """Return whether the car is of a foreign brand."""
        return BRANDS_BY_OEM[self.oem].foreign


def derive_key(seed: int, label: str) -> SigningKey:
    """Return the Ed25519 key ``label`` of the world of ``seed`` (repeatable runs)."""
    digest = hashlib.sha256(KEY_DOMAIN + str(seed).encode() + b":" + label.encode()).digest()
    return SigningKey.from_seed(digest)


def derive_bytes(seed: int, label: str, size: int = 32) -> bytes:
    """Return ``size`` bytes (at most 32) derived from the seed for ``label``."""
    return hashlib.sha256(KEY_DOMAIN + str(seed).encode() + b":" + label.encode()).digest()[:size]


def _choose_brand(rng: random.Random) -> Brand:
    r = rng.random()
    for brand in BRANDS:
        r -= brand.share
        if r < 0:
            return brand
    return BRANDS[-1]


def _choose_consents(rng: random.Random) -> tuple[ConsentChoice, ...]:
    return tuple(
        ConsentChoice(purpose.value, categories)
        for purpose, share, categories in CONSENT_MIX
        if rng.random() < share
    )


# The crash needs a foreign car and one of another OEM: the first two cars are those, so
# that any fleet of two or more has a crash, whatever the seed.
GUARANTEED_BRANDS: tuple[Brand, ...] = (
    next(b for b in BRANDS if b.foreign),
    next(b for b in BRANDS if not b.foreign),
)


def compute_fleet(rng: random.Random, vehicles: int) -> list[Car]:
    """Return ``vehicles`` cars; the serial number is the car's index within its OEM."""
    serials: dict[str, int] = {}
    cars: list[Car] = []
    for index in range(vehicles):
        drawn = _choose_brand(rng)  # drawn for every car: the rest of the stream is unchanged
        brand = GUARANTEED_BRANDS[index] if index < len(GUARANTEED_BRANDS) else drawn
        serial = serials.get(brand.oem, 0) + 1
        serials[brand.oem] = serial
        model = brand.models[rng.randrange(len(brand.models))]
        vin = f"LSV{brand.oem[:2].upper()}A4180E{index:06d}"
        car = Car(
            index, compute_vehicle_id(brand.oem, f"{serial:06d}"), brand.oem, model,
            2019 + rng.randrange(7), vin, _choose_consents(rng),
        )  # fmt: skip
        cars.append(car)
    return cars


def derive_vehicle_key(seed: int, car: Car) -> SigningKey:
    """Return the car's signing key (in the car)."""
    return derive_key(seed, "vehicle/" + car.vehicle_id)


def derive_owner_key(seed: int, car: Car) -> SigningKey:
    """Return the car's owner's account key."""
    return derive_key(seed, "owner/" + car.vehicle_id)
