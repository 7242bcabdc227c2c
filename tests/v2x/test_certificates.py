"""Explicit 1609.2 certificates: a self-signed CA and linkage-data pseudonyms decode to the
fields they were built with, verify under the issuer's key over the canonical issuer
certificate, and hash (HashedId8) over the canonical encoding even when received otherwise."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from carchain.crypto.ecdsa import verify_p256
from carchain.errors import InvalidSignature, V2xDecodeError
from carchain.v2x import codec
from carchain.v2x.certificates import (
    PSID_CAM,
    PSID_DENM,
    LinkageData,
    compute_canonical_certificate,
    compute_hashed_id8,
    compute_signing_digest,
    decode_certificate,
)
from tests.v2x.conftest import LINKAGE, START_S, Pki


def test_ca_certificate_is_self_signed_and_can_issue(pki: Pki) -> None:
    ca = decode_certificate(pki.ca_cert)
    assert ca.is_ca and ca.issuer_id8 is None and ca.linkage is None
    assert ca.public_key == pki.ca_key.public_key_compressed
    assert ca.psids == (PSID_CAM, PSID_DENM)
    assert ca.end_s - ca.start_s == 365 * 86_400
    verify_p256(ca.public_key, compute_signing_digest(ca.tbs, b""), ca.r, ca.s)


def test_pseudonym_certificate_fields_and_chain(pki: Pki) -> None:
    ca = decode_certificate(pki.ca_cert)
    cert = decode_certificate(pki.cert)
    assert not cert.is_ca and cert.linkage == LINKAGE
    assert cert.issuer_id8 == ca.hashed_id8 == compute_hashed_id8(pki.ca_cert)
    assert (cert.start_s, cert.end_s) == (START_S, START_S + 168 * 3_600)
    assert cert.is_valid_at(START_S) and not cert.is_valid_at(START_S + 168 * 3_600)
    assert cert.public_key == pki.key.public_key_compressed
    verify_p256(ca.public_key, compute_signing_digest(cert.tbs, pki.ca_cert), cert.r, cert.s)
    with pytest.raises(InvalidSignature):  # the issuer's certificate is part of what is signed
        verify_p256(ca.public_key, compute_signing_digest(cert.tbs, b""), cert.r, cert.s)


def test_tbs_is_the_received_slice(pki: Pki) -> None:
    cert = decode_certificate(pki.cert)
    value = codec.decode_certificate_value(pki.cert)
    assert codec.encode_to_be_signed_certificate(value["toBeSigned"]) == cert.tbs
    assert cert.tbs in pki.cert


def test_hashed_id8_is_low_8_bytes_of_sha256(pki: Pki) -> None:
    assert compute_hashed_id8(pki.cert) == hashlib.sha256(pki.cert).digest()[-8:]


def _uncompressed_variant(cert: bytes) -> bytes:
    """Return ``cert`` with its key as an uncompressed point and rSig as compressed-y-0."""
    value: dict[str, Any] = codec.decode_certificate_value(cert)
    alg, (form, x) = value["toBeSigned"]["verifyKeyIndicator"][1]
    key = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), (b"\x02" if form == "compressed-y-0" else b"\x03") + x
    )
    y = key.public_numbers().y.to_bytes(32, "big")
    point = ("uncompressedP256", {"x": x, "y": y})
    value["toBeSigned"]["verifyKeyIndicator"] = ("verificationKey", (alg, point))
    r = value["signature"][1]["rSig"][1]
    value["signature"][1]["rSig"] = ("compressed-y-0", r)
    return codec.encode_certificate(value)


def test_canonicalised_before_hashing(pki: Pki) -> None:
    variant = _uncompressed_variant(pki.cert)
    assert variant != pki.cert and len(variant) > len(pki.cert)
    assert compute_canonical_certificate(variant) == pki.cert
    assert compute_hashed_id8(variant) == compute_hashed_id8(pki.cert)
    assert compute_hashed_id8(variant) != hashlib.sha256(variant).digest()[-8:]
    decoded = decode_certificate(variant)
    assert decoded.raw == pki.cert and decoded.public_key == pki.key.public_key_compressed


def test_canonical_input_is_returned_unchanged(pki: Pki) -> None:
    assert compute_canonical_certificate(pki.cert) is not None
    assert compute_canonical_certificate(pki.cert) == pki.cert


def test_invalid_linkage_data() -> None:
    with pytest.raises(ValueError):
        LinkageData(i_cert=1, linkage_value=b"\x00" * 8)
    with pytest.raises(ValueError):
        LinkageData(i_cert=70_000, linkage_value=b"\x00" * 9)


@pytest.mark.parametrize("cut", [1, 10, 50])
def test_invalid_truncated_certificate(pki: Pki, cut: int) -> None:
    with pytest.raises(V2xDecodeError):
        decode_certificate(pki.cert[:-cut])


def test_invalid_trailing_bytes(pki: Pki) -> None:
    with pytest.raises(V2xDecodeError):
        decode_certificate(pki.cert + b"\x00")
