"""ECDSA over NIST P-256 for V2X (IEEE 1609.2 / ETSI TS 103 097), behind a profile facade.

Every V2X signature goes through a ``Profile``: today the NIST profile (ECDSA P-256 with
SHA-256), later China's SM2/SM3 profile (YD/T 3957, GB/T 45112) with the same structures.
Keys and signatures are the 1609.2 wire forms: a 33-byte compressed point and ``(r, s)``
as two 32-byte big-endian integers. The 1609.2 signature is over a 32-byte digest that
the caller computes (``Hash(Hash(tbs) || Hash(signer))``), so signing and verifying take
the digest, never the message (``Prehashed``). Verification raises; it never returns False.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature as _CryptographyInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from carchain.errors import InvalidSignature

COMPRESSED_KEY_SIZE = 33
SCALAR_SIZE = 32
DIGEST_SIZE = 32
_CURVE = ec.SECP256R1()
_PREHASHED = ec.ECDSA(Prehashed(hashes.SHA256()))


@dataclass(frozen=True, slots=True)
class Profile:
    """A V2X crypto profile: the curve, hash and the names 1609.2 gives them."""

    name: str
    hash_name: str
    signature_choice: str  # the Signature CHOICE alternative in 1609.2
    key_choice: str  # the PublicVerificationKey CHOICE alternative

    def compute_hash(self, data: bytes) -> bytes:
        """Return the profile's 32-byte hash of ``data`` (SHA-256 for the NIST profile)."""
        return hashlib.new(self.hash_name, data).digest()


NIST_P256 = Profile(
    name="nist-p256-sha256",
    hash_name="sha256",
    signature_choice="ecdsaNistP256Signature",
    key_choice="ecdsaNistP256",
)


class P256SigningKey:
    """An ECDSA P-256 private key (a pseudonym or CA key). Never logged, never printed."""

    __slots__ = ("_key", "public_key_compressed")

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("a V2X key is on NIST P-256")
        self._key = key
        self.public_key_compressed: bytes = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )

    @classmethod
    def generate(cls) -> P256SigningKey:
        """Return a fresh random key."""
        return cls(ec.generate_private_key(_CURVE))

    @classmethod
    def from_bytes(cls, scalar: bytes) -> P256SigningKey:
        """Return the key for a 32-byte big-endian private scalar."""
        if len(scalar) != SCALAR_SIZE:
            raise ValueError("a P-256 private scalar is 32 bytes")
        try:
            key = ec.derive_private_key(int.from_bytes(scalar, "big"), _CURVE)
        except ValueError as exc:
            raise ValueError("the scalar is not a valid P-256 private key") from exc
        return cls(key)

    def to_bytes(self) -> bytes:
        """Return the 32-byte private scalar; handle with care (only for encrypted storage)."""
        return self._key.private_numbers().private_value.to_bytes(SCALAR_SIZE, "big")

    def sign_digest(self, digest32: bytes) -> tuple[bytes, bytes]:
        """Return ``(r, s)``, each 32 bytes, signing the 32-byte ``digest32``."""
        if len(digest32) != DIGEST_SIZE:
            raise ValueError("ECDSA P-256 signs a 32-byte digest")
        r, s = decode_dss_signature(self._key.sign(digest32, _PREHASHED))
        return r.to_bytes(SCALAR_SIZE, "big"), s.to_bytes(SCALAR_SIZE, "big")

    def __repr__(self) -> str:
        return f"P256SigningKey(public_key={self.public_key_compressed.hex()})"


def load_p256_public_key(public_key_compressed: bytes) -> ec.EllipticCurvePublicKey:
    """Return the public key object for a 33-byte compressed point; raise ``InvalidSignature``."""
    if len(public_key_compressed) != COMPRESSED_KEY_SIZE or public_key_compressed[0] not in (2, 3):
        raise InvalidSignature("a P-256 public key is a 33-byte compressed point")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, public_key_compressed)
    except ValueError as exc:
        raise InvalidSignature("the public key is not a point on P-256") from exc


def verify_p256(public_key_compressed: bytes, digest32: bytes, r: bytes, s: bytes) -> None:
    """Raise ``InvalidSignature`` unless ``(r, s)`` signs ``digest32`` under the key."""
    verify_p256_with_key(load_p256_public_key(public_key_compressed), digest32, r, s)


def verify_p256_with_key(
    key: ec.EllipticCurvePublicKey, digest32: bytes, r: bytes, s: bytes
) -> None:
    """Like ``verify_p256`` with an already loaded key (the receiver's cache keeps these)."""
    if len(digest32) != DIGEST_SIZE or len(r) != SCALAR_SIZE or len(s) != SCALAR_SIZE:
        raise InvalidSignature("digest, r or s has the wrong length")
    der = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    try:
        key.verify(der, digest32, _PREHASHED)
    except _CryptographyInvalidSignature as exc:
        raise InvalidSignature("the ECDSA P-256 signature does not verify") from exc


def compress_p256_point(point: bytes) -> bytes:
    """Return the 33-byte compressed form of a compressed or uncompressed (65-byte) point."""
    if len(point) == COMPRESSED_KEY_SIZE:
        return point
    key = load_p256_uncompressed(point)
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def load_p256_uncompressed(point: bytes) -> ec.EllipticCurvePublicKey:
    """Return the public key for a 65-byte uncompressed point; raise ``InvalidSignature``."""
    if len(point) != 2 * SCALAR_SIZE + 1 or point[0] != 4:
        raise InvalidSignature("an uncompressed P-256 point is 65 bytes starting 0x04")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, point)
    except ValueError as exc:
        raise InvalidSignature("the public key is not a point on P-256") from exc
