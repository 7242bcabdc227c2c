"""The vehicle's V2X receiver: verify a signed CAM or DENM fully, or refuse it with a reason.

Checks, in order (cheap before expensive; each failure one ``V2xRejected(reason=...)``):
structure (C-OER, TS 103 097 profile), PSID, generation time inside the window around
``now`` and not a duplicate inside it, the signer (cache by HashedId8; a certificate signer
is validated once: chain to a CA of the trust store, not revoked, within the CA's
permissions and validity), certificate validity at generation time and PSID permission,
linkage-value revocation for the certificate's period, and last the ECDSA signature.
The trust store and the revocation check are Protocols that the SCMS half implements
from chain state (``core/v2x_ca``, ``core/v2x_revocation``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from carchain.crypto.ecdsa import NIST_P256, load_p256_public_key, verify_p256_with_key
from carchain.errors import InvalidSignature, V2xDecodeError, V2xRejected
from carchain.v2x import codec
from carchain.v2x.cert_cache import CachedSigner, CertificateCache
from carchain.v2x.certificates import (
    PSID_CAM,
    PSID_DENM,
    Certificate,
    compute_signing_digest,
    decode_certificate,
)
from carchain.v2x.signed_data import (
    SIGNER_CERTIFICATE,
    SignedMessage,
    decode_signed_data,
    learn_layout,
)

DEFAULT_WINDOW_MS = 2_000  # a CAM older than this is stale (EN 302 637-2 sends at 1-10 Hz)
DEFAULT_FUTURE_MS = 200  # clock skew tolerated for a message from the near future
REPLAY_CAPACITY = 65_536


class RejectReason(StrEnum):
    """Why a receiver refused a message (``V2xRejected.reason``)."""

    MALFORMED = "malformed"
    OVERSIZED = "oversized"
    UNSUPPORTED = "unsupported"
    WRONG_PSID = "wrong_psid"
    OUTSIDE_TIME_WINDOW = "outside_time_window"
    REPLAY = "replay"
    UNKNOWN_SIGNER = "unknown_signer"
    INVALID_CERTIFICATE = "invalid_certificate"
    CERTIFICATE_EXPIRED = "certificate_expired"
    CERTIFICATE_NOT_YET_VALID = "certificate_not_yet_valid"
    CERTIFICATE_PSID = "certificate_psid"
    UNKNOWN_CA = "unknown_ca"
    REVOKED_CA = "revoked_ca"
    REVOKED_LINKAGE = "revoked_linkage"
    BAD_SIGNATURE = "bad_signature"


@dataclass(frozen=True, slots=True)
class CaRecord:
    """A pseudonym CA as the chain registered it (``core/v2x_ca.PseudonymCa``)."""

    hashed_id8: bytes
    ca_certificate: bytes
    public_key: bytes  # 33-byte compressed P-256 point
    not_before_s: int
    not_after_s: int
    status: str  # "active" or "revoked"

    def is_revoked(self) -> bool:
        """Return whether governance revoked this CA."""
        return self.status != "active"


class CaTrustStore(Protocol):
    """The CAs registered on chain, by the HashedId8 of their certificate."""

    def get_ca(self, hashed_id8: bytes) -> CaRecord | None:
        """Return the CA whose certificate has this HashedId8, or None."""
        ...


class RevocationCheck(Protocol):
    """Linkage-based revocation: the linkage values of revoked vehicles per period."""

    def is_revoked(self, linkage_value9: bytes, i_period: int) -> bool:
        """Return whether a certificate with this linkage value in period i is revoked."""
        ...


@dataclass(frozen=True, slots=True)
class VerifiedMessage:
    """A message that passed every check."""

    raw: bytes
    psid: int
    generation_ms: int
    payload: bytes
    signer_kind: str
    certificate: Certificate

    def decode_payload(self) -> dict[str, Any]:
        """Return the CAM or DENM the message carries, decoded (UPER) by pycrate."""
        if self.psid == PSID_DENM:
            return codec.decode_denm(self.payload)
        return codec.decode_cam(self.payload)


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _reject(reason: RejectReason, message: str, hashed_id8: bytes | None = None) -> V2xRejected:
    return V2xRejected(
        message, reason=str(reason), hashed_id8=None if hashed_id8 is None else hashed_id8.hex()
    )


class Receiver:
    """Verifies signed CAMs and DENMs against a trust store and the revocation list."""

    def __init__(
        self,
        trust: CaTrustStore,
        revocations: RevocationCheck,
        now_ms: Callable[[], int] = _wall_clock_ms,
        psids: frozenset[int] = frozenset({PSID_CAM, PSID_DENM}),
        window_ms: int = DEFAULT_WINDOW_MS,
        cache: CertificateCache | None = None,
    ) -> None:
        self._trust = trust
        self._revocations = revocations
        self._now_ms = now_ms
        self._psids = psids
        self._window_ms = window_ms
        self.cache = cache if cache is not None else CertificateCache()
        self._seen: dict[bytes, int] = {}  # message hash -> generation ms, inside the window
        self._ca_certificates: dict[bytes, Certificate] = {}

    def verify(self, raw: bytes) -> VerifiedMessage:
        """Verify ``raw`` now; return the message or raise ``V2xRejected``."""
        return self.verify_at(raw, self._now_ms())

    def verify_at(self, raw: bytes, now_ms: int) -> VerifiedMessage:
        """Verify ``raw`` as of ``now_ms``; return the message or raise ``V2xRejected``."""
        message = self._parse(raw)
        generation_ms, payload = self._validate_header(message, now_ms)
        # the replay key is Hash(tbsData): the same content is a replay whatever the signer
        # form, and ECDSA's (r, n - s) twin of a signature cannot make it new
        hash_tbs = NIST_P256.compute_hash(message.tbs)
        if hash_tbs in self._seen:
            raise _reject(RejectReason.REPLAY, "the same message was already received")
        signer = self._get_signer(message)
        self._validate_signer(signer.certificate, message.psid, generation_ms)
        self._validate_signature(message, hash_tbs, signer)
        self._remember(hash_tbs, generation_ms, now_ms)
        learn_layout(message)
        return VerifiedMessage(
            message.raw,
            message.psid,
            generation_ms,
            payload,
            message.signer_kind,
            signer.certificate,
        )

    def _parse(self, raw: bytes) -> SignedMessage:
        if isinstance(raw, bytes | bytearray) and len(raw) > codec.MAX_MESSAGE_SIZE:
            raise _reject(RejectReason.OVERSIZED, f"message of {len(raw)} bytes")
        try:
            return decode_signed_data(raw)
        except V2xDecodeError as exc:
            raise _reject(RejectReason.MALFORMED, exc.message) from exc

    def _validate_header(self, message: SignedMessage, now_ms: int) -> tuple[int, bytes]:
        if message.psid not in self._psids:
            raise _reject(RejectReason.WRONG_PSID, f"PSID {message.psid} is not accepted here")
        if message.generation_ms is None or message.payload is None:
            raise _reject(RejectReason.UNSUPPORTED, "no generationTime or no unsecured payload")
        generation_ms = message.generation_ms
        if not now_ms - self._window_ms <= generation_ms <= now_ms + DEFAULT_FUTURE_MS:
            raise _reject(
                RejectReason.OUTSIDE_TIME_WINDOW, f"generated {now_ms - generation_ms} ms ago"
            )
        if message.expiry_ms is not None and message.expiry_ms < now_ms:
            raise _reject(RejectReason.OUTSIDE_TIME_WINDOW, "the message expired")
        return generation_ms, message.payload

    def _remember(self, seen_key: bytes, generation_ms: int, now_ms: int) -> None:
        if len(self._seen) >= REPLAY_CAPACITY:
            horizon = now_ms - self._window_ms
            self._seen = {k: t for k, t in self._seen.items() if t >= horizon}
            while len(self._seen) >= REPLAY_CAPACITY:  # all fresh: drop the oldest received
                del self._seen[next(iter(self._seen))]
        self._seen[seen_key] = generation_ms

    def admit_certificate(self, cert_raw: bytes) -> Certificate:
        """Validate a pseudonym certificate's chain and cache it (as a certificate signer does).

        For a ``signer=digest`` message whose certificate arrived some other way.
        """
        return self._get_signer_certificate(cert_raw).certificate

    def _get_signer(self, message: SignedMessage) -> CachedSigner:
        if message.signer_kind != SIGNER_CERTIFICATE:
            digest = message.signer_digest or b""
            entry = self.cache.get(digest)
            if entry is None:
                raise _reject(RejectReason.UNKNOWN_SIGNER, "certificate not seen yet", digest)
            return entry
        cert_raw = message.signer_certificates[0]
        entry = self.cache.get(NIST_P256.compute_hash(cert_raw)[-8:])
        if entry is not None and entry.certificate.raw == cert_raw:
            return entry
        return self._get_signer_certificate(cert_raw)

    def _get_signer_certificate(self, cert_raw: bytes) -> CachedSigner:
        try:
            certificate = decode_certificate(cert_raw)
        except V2xDecodeError as exc:
            raise _reject(RejectReason.MALFORMED, exc.message) from exc
        return self._admit(certificate)

    def _admit(self, certificate: Certificate) -> CachedSigner:
        """Validate a new certificate's chain once and cache it."""
        ca_certificate = self._validate_chain(certificate)
        if certificate.signature_algorithm != NIST_P256.signature_choice:
            raise _reject(RejectReason.INVALID_CERTIFICATE, "the CA signs with another curve")
        try:
            key = load_p256_public_key(certificate.public_key)
            issuer_key = load_p256_public_key(ca_certificate.public_key)
            digest = compute_signing_digest(certificate.tbs, ca_certificate.raw)
            verify_p256_with_key(issuer_key, digest, certificate.r, certificate.s)
        except InvalidSignature as exc:
            raise _reject(
                RejectReason.INVALID_CERTIFICATE, "the CA's signature does not verify"
            ) from exc
        entry = CachedSigner(certificate, key, NIST_P256.compute_hash(certificate.raw))
        self.cache.put(entry)
        return entry

    def _validate_chain(self, certificate: Certificate) -> Certificate:
        """Return the issuing CA's certificate; raise unless it may have issued this one."""
        if certificate.is_ca or certificate.linkage is None:
            raise _reject(
                RejectReason.INVALID_CERTIFICATE,
                "a message signer is a pseudonym certificate with linkageData",
                certificate.hashed_id8,
            )
        ca = self._get_trusted_ca(certificate)
        ca_certificate = self._get_ca_certificate(ca)
        inside = ca_certificate.start_s <= certificate.start_s <= certificate.end_s
        if not (inside and certificate.end_s <= ca_certificate.end_s):
            raise _reject(RejectReason.INVALID_CERTIFICATE, "validity outside the CA's")
        # what a CA may issue is its certIssuePermissions (1609.2 5.1.2.4), not its own
        # appPermissions: a CA certificate need not carry any, or may carry others
        allowed = ca_certificate.issue_psids
        if allowed is not None and not set(certificate.psids) <= allowed:
            raise _reject(RejectReason.INVALID_CERTIFICATE, "PSIDs beyond the CA's permissions")
        return ca_certificate

    def _get_trusted_ca(self, certificate: Certificate) -> CaRecord:
        issuer = certificate.issuer_id8
        ca = None if issuer is None else self._trust.get_ca(issuer)
        if ca is None:
            raise _reject(RejectReason.UNKNOWN_CA, "issuer is not a registered CA", issuer)
        if ca.is_revoked():
            raise _reject(RejectReason.REVOKED_CA, "the issuing CA is revoked", ca.hashed_id8)
        return ca

    def _get_ca_certificate(self, ca: CaRecord) -> Certificate:
        known = self._ca_certificates.get(ca.hashed_id8)
        if known is not None:
            return known
        try:
            certificate = decode_certificate(ca.ca_certificate)
        except V2xDecodeError as exc:
            raise _reject(RejectReason.UNKNOWN_CA, "the registered CA certificate is bad") from exc
        if certificate.hashed_id8 != ca.hashed_id8 or not certificate.is_ca:
            raise _reject(RejectReason.UNKNOWN_CA, "the registered CA certificate does not match")
        self._ca_certificates[ca.hashed_id8] = certificate
        return certificate

    def _validate_signer(self, certificate: Certificate, psid: int, generation_ms: int) -> None:
        """The per-message checks a cached certificate still goes through."""
        ca = self._get_trusted_ca(certificate)
        at_s = generation_ms // 1000
        if at_s < certificate.start_s:
            raise _reject(RejectReason.CERTIFICATE_NOT_YET_VALID, "not yet valid")
        if at_s >= certificate.end_s or not ca.not_before_s <= at_s < ca.not_after_s:
            raise _reject(RejectReason.CERTIFICATE_EXPIRED, "certificate or CA expired")
        if psid not in certificate.psids:
            raise _reject(RejectReason.CERTIFICATE_PSID, f"certificate does not permit PSID {psid}")
        linkage = certificate.linkage
        if linkage is not None and self._revocations.is_revoked(
            linkage.linkage_value, linkage.i_cert
        ):
            raise _reject(
                RejectReason.REVOKED_LINKAGE, "the vehicle is revoked", certificate.hashed_id8
            )

    def _validate_signature(
        self, message: SignedMessage, hash_tbs: bytes, signer: CachedSigner
    ) -> None:
        digest = NIST_P256.compute_hash(hash_tbs + signer.certificate_hash)
        try:
            verify_p256_with_key(signer.public_key, digest, message.r, message.s)
        except InvalidSignature as exc:
            raise _reject(
                RejectReason.BAD_SIGNATURE,
                "the signature does not verify",
                signer.certificate.hashed_id8,
            ) from exc
