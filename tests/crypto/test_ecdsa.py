"""ECDSA P-256 behind the V2X profile: sign and verify a digest, keys round-trip, and every
malformed key, digest or signature raises the typed ``InvalidSignature``."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from carchain.crypto.ecdsa import (
    NIST_P256,
    P256SigningKey,
    compress_p256_point,
    verify_p256,
)
from carchain.errors import InvalidSignature

DIGEST = hashlib.sha256(b"cam").digest()


def test_sign_and_verify_a_digest() -> None:
    key = P256SigningKey.generate()
    r, s = key.sign_digest(DIGEST)
    assert len(r) == len(s) == 32 and len(key.public_key_compressed) == 33
    verify_p256(key.public_key_compressed, DIGEST, r, s)


def test_signature_is_plain_ecdsa_over_the_digest_as_pyca_checks_it() -> None:
    key = P256SigningKey.generate()
    r, s = key.sign_digest(hashlib.sha256(b"message").digest())
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key.public_key_compressed)
    der = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    public.verify(der, b"message", ec.ECDSA(hashes.SHA256()))  # raises if not the same scheme


def test_key_round_trips_through_its_scalar() -> None:
    key = P256SigningKey.generate()
    again = P256SigningKey.from_bytes(key.to_bytes())
    assert again.public_key_compressed == key.public_key_compressed
    assert "P256SigningKey(public_key=" in repr(key) and key.to_bytes().hex() not in repr(key)


def test_profile_hash_is_sha256() -> None:
    assert NIST_P256.compute_hash(b"x") == hashlib.sha256(b"x").digest()


def test_compress_point_accepts_both_forms() -> None:
    key = P256SigningKey.generate()
    numbers = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), key.public_key_compressed
    ).public_numbers()
    uncompressed = b"\x04" + numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")
    assert compress_p256_point(uncompressed) == key.public_key_compressed
    assert compress_p256_point(key.public_key_compressed) == key.public_key_compressed


def test_invalid_signature_tampered_digest_or_s() -> None:
    key = P256SigningKey.generate()
    r, s = key.sign_digest(DIGEST)
    with pytest.raises(InvalidSignature):
        verify_p256(key.public_key_compressed, hashlib.sha256(b"other").digest(), r, s)
    flipped = bytes([s[0] ^ 1]) + s[1:]
    with pytest.raises(InvalidSignature):
        verify_p256(key.public_key_compressed, DIGEST, r, flipped)


def test_invalid_signature_other_key() -> None:
    r, s = P256SigningKey.generate().sign_digest(DIGEST)
    with pytest.raises(InvalidSignature):
        verify_p256(P256SigningKey.generate().public_key_compressed, DIGEST, r, s)


@pytest.mark.parametrize(
    "public_key",
    [b"", b"\x02" * 32, b"\x05" + b"\x01" * 32, b"\x02" + b"\xff" * 32, b"\x04" + b"\x01" * 64],
)
def test_invalid_public_key(public_key: bytes) -> None:
    r, s = P256SigningKey.generate().sign_digest(DIGEST)
    with pytest.raises(InvalidSignature):
        verify_p256(public_key, DIGEST, r, s)


def test_invalid_lengths() -> None:
    key = P256SigningKey.generate()
    r, s = key.sign_digest(DIGEST)
    with pytest.raises(InvalidSignature):
        verify_p256(key.public_key_compressed, DIGEST[:31], r, s)
    with pytest.raises(InvalidSignature):
        verify_p256(key.public_key_compressed, DIGEST, r[:31], s)
    with pytest.raises(ValueError):
        key.sign_digest(b"short")
    with pytest.raises(ValueError):
        P256SigningKey.from_bytes(b"\x00" * 32)  # zero is not a private key
    with pytest.raises(ValueError):
        P256SigningKey.from_bytes(b"\x01" * 31)
