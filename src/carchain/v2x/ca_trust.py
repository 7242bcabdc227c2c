"""The receiver's ``CaTrustStore`` from chain state: the pseudonym CAs registered on chain.

The chain stores each CA's certificate bytes as its OEM proposed them; this store
decodes them once, checks that the certificate is a self-signed CA certificate
with the registered key and HashedId8, and then trusts it only while the chain
says the CA is active. ``verify_issued_certificate`` checks a pseudonym
certificate's signature by its issuing CA.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from carchain.core import v2x_ca
from carchain.core.state import KVView
from carchain.crypto.ecdsa import P256SigningKey, verify_p256
from carchain.errors import CarchainError, V2xRejected
from carchain.v2x.certificates import (
    Certificate,
    compute_hashed_id8,
    compute_signing_digest,
    decode_certificate,
)
from carchain.v2x.receiver import CaRecord


def compute_trusted_ca(ca: v2x_ca.PseudonymCa) -> CaRecord | None:
    """Return the receiver's record of a chain CA (revoked ones too, with their status), or
    ``None`` if its certificate is not a self-signed CA certificate with the registered
    key and HashedId8 (bytes that passed only the chain's shallow checks)."""
    try:
        cert = decode_certificate(ca.ca_certificate)
        verify_p256(cert.public_key, compute_signing_digest(cert.tbs, b""), cert.r, cert.s)
    except CarchainError:
        return None
    if not cert.is_ca or cert.issuer_id8 is not None or cert.public_key != ca.public_key:
        return None
    if cert.hashed_id8 != ca.hashed_id8:
        return None
    return CaRecord(
        cert.hashed_id8, cert.raw, cert.public_key, ca.not_before_s, ca.not_after_s, ca.status.value
    )


@dataclass
class ChainCaTrustStore:
    """``get_ca(hashed_id8)`` over chain state, cached until ``process_refresh``."""

    view: KVView
    _cache: dict[bytes, CaRecord | None] = field(default_factory=dict)

    def get_ca(self, hashed_id8: bytes) -> CaRecord | None:
        """Return the CA with this HashedId8 (its ``status`` says if revoked), or ``None``
        (unknown, or its registered certificate does not check)."""
        if hashed_id8 not in self._cache:
            ca = v2x_ca.get_ca_optional(self.view, hashed_id8)
            self._cache[hashed_id8] = None if ca is None else compute_trusted_ca(ca)
        return self._cache[hashed_id8]

    def process_refresh(self) -> None:
        """Forget what was read: the next lookups see the chain's current CAs."""
        self._cache.clear()


def verify_issued_certificate(raw: bytes, trust: ChainCaTrustStore, at_s: int) -> Certificate:
    """Return the decoded pseudonym certificate if a trusted CA signed it and it is valid at
    ``at_s``; raise ``V2xRejected`` (or ``V2xDecodeError``) naming the failed check."""
    cert = decode_certificate(raw)
    ca = trust.get_ca(cert.issuer_id8) if cert.issuer_id8 is not None else None
    if ca is None or ca.is_revoked():
        raise V2xRejected(
            "issuer is not a trusted CA",
            reason="untrusted_issuer",
            hashed_id8=cert.hashed_id8.hex(),
        )
    if not cert.is_valid_at(at_s) or not ca.not_before_s <= at_s < ca.not_after_s:
        raise V2xRejected(
            "certificate not valid at this time", reason="expired", hashed_id8=cert.hashed_id8.hex()
        )
    try:
        verify_p256(
            ca.public_key, compute_signing_digest(cert.tbs, ca.ca_certificate), cert.r, cert.s
        )
    except CarchainError as exc:
        raise V2xRejected(
            "certificate signature",
            reason="bad_certificate_signature",
            hashed_id8=cert.hashed_id8.hex(),
        ) from exc
    return cert


def build_ca_registration(
    oem: str, ca_key: P256SigningKey, ca_certificate: bytes, not_before_s: int, not_after_s: int
) -> v2x_ca.RegisterPseudonymCa:
    """Return the governance action registering a CA for ``oem``, with the CA key's proof
    of possession (``core.v2x_ca.compute_possession_digest``)."""
    hashed_id8 = compute_hashed_id8(ca_certificate)
    r, s = ca_key.sign_digest(v2x_ca.compute_possession_digest(oem, hashed_id8))
    return v2x_ca.RegisterPseudonymCa(
        oem, ca_certificate, ca_key.public_key_compressed, hashed_id8, not_before_s,
        not_after_s, r, s,
    )  # fmt: skip
