"""V2X identities: each OEM's pseudonym CA and one pseudonym certificate per car.

Every OEM's CA key and every car's pseudonym key are derived from the seed; the
certificates are real IEEE 1609.2 explicit certificates built by
``carchain.v2x.certificates`` (linkage data, the current linkage period's validity)
so a car's V2X peers know it only by the HashedId8 of its certificate. Only the
issuing CA can tell which car holds a pseudonym: ``PseudonymDirectory`` is that
CA-side record, which an investigation may consult only under lawful process.
A real car rotates pseudonyms every few minutes; over the simulated hour each car
keeps one (the cost of a certificate is ~1.6 ms, and one per car is enough for the
exchange logs to be pseudonymous).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from carchain.core.v2x_revocation import compute_period
from carchain.crypto.ecdsa import P256SigningKey
from carchain.sim.fleet import BRANDS, Car, derive_bytes
from carchain.v2x.certificates import (
    PSID_CAM,
    LinkageData,
    build_ca_certificate,
    build_pseudonym_certificate,
    compute_hashed_id8,
)
from carchain.v2x.issuance import PseudonymCredential, compute_validity

LINKAGE_VALUE_SIZE = 9
_DETERMINISTIC = ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=True)


class DeterministicCaKey(P256SigningKey):
    """A CA key that signs with RFC 6979 deterministic nonces, so the same seed gives
    byte-identical certificates (and HashedId8s, which the exchange logs carry)."""

    __slots__ = ()

    def sign_digest(self, digest32: bytes) -> tuple[bytes, bytes]:
        """Return ``(r, s)`` over ``digest32`` with the RFC 6979 nonce."""
        if len(digest32) != 32:
            raise ValueError("ECDSA P-256 signs a 32-byte digest")
        r, s = decode_dss_signature(self._key.sign(digest32, _DETERMINISTIC))
        return r.to_bytes(32, "big"), s.to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class PseudonymCa:
    """An OEM's pseudonym CA: its key and self-signed certificate."""

    oem: str
    key: P256SigningKey
    certificate: bytes


@dataclass(frozen=True, slots=True)
class Pseudonym:
    """A car's pseudonym for the hour: its credential and the HashedId8 peers see."""

    credential: PseudonymCredential
    hashed_id8: bytes


@dataclass
class PseudonymDirectory:
    """The CAs' issuance records: which car holds which pseudonym (HashedId8), per OEM."""

    by_oem: dict[str, dict[bytes, str]] = field(default_factory=dict)

    def resolve(self, oem: str, hashed_id8: bytes) -> str | None:
        """Return the vehicle id ``oem``'s CA issued ``hashed_id8`` to (``None``: not its)."""
        return self.by_oem.get(oem, {}).get(hashed_id8)


def _derive_p256(seed: int, label: str) -> P256SigningKey:
    """Return a P-256 key derived from the seed (re-hashing in the ~2^-32 case of a
    scalar out of range)."""
    material = derive_bytes(seed, label)
    while True:
        try:
            return P256SigningKey.from_bytes(material)
        except ValueError:
            material = hashlib.sha256(material).digest()


def compute_cas(seed: int, start_s: int) -> dict[str, PseudonymCa]:
    """Return every OEM's pseudonym CA, valid for the linkage period of ``start_s``."""
    begin, hours = compute_validity(compute_period(start_s))
    cas = {}
    for brand in BRANDS:
        key = DeterministicCaKey(_derive_p256(seed, "pca/" + brand.oem)._key)
        cas[brand.oem] = PseudonymCa(
            brand.oem, key, build_ca_certificate(key, [PSID_CAM], begin, hours + 24)
        )
    return cas


def compute_pseudonyms(
    seed: int,
    cars: Sequence[Car],
    cas: dict[str, PseudonymCa],
    start_s: int,
    advance: Callable[[int], None] = lambda n: None,
) -> tuple[list[Pseudonym], PseudonymDirectory]:
    """Return each car's pseudonym (in fleet order) and the CAs' directory of them."""
    period = compute_period(start_s)
    begin, hours = compute_validity(period)
    directory = PseudonymDirectory({oem: {} for oem in cas})
    out = []
    for car in cars:
        key = _derive_p256(seed, "pseudonym/" + car.vehicle_id)
        linkage = LinkageData(
            period & 0xFFFF, derive_bytes(seed, "linkage/" + car.vehicle_id, LINKAGE_VALUE_SIZE)
        )
        ca = cas[car.oem]
        cert = build_pseudonym_certificate(
            ca.certificate, ca.key, key.public_key_compressed, begin, hours, [PSID_CAM], linkage
        )
        id8 = compute_hashed_id8(cert)
        directory.by_oem[car.oem][id8] = car.vehicle_id
        out.append(Pseudonym(PseudonymCredential(cert, key, period), id8))
        advance(1)
    return out, directory
