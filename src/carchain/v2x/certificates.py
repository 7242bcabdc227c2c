"""Explicit IEEE 1609.2 certificates: a self-signed pseudonym CA and linkage-data pseudonyms.

A certificate is signed over ``Hash(Hash(COER(toBeSigned)) || Hash(issuer certificate))``
(1609.2 clause 5.3.1; the issuer part is the hash of the empty string for a self-signed
certificate). Its ``HashedId8`` is the low-order 8 bytes of SHA-256 over its canonical
encoding (clause 6.4.3): every elliptic-curve point in ``toBeSigned`` compressed and the
signature's ``rSig`` as ``x-only``. Ours are built canonical; a received certificate is
canonicalised before hashing, and only re-encoded if it was not canonical already.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carchain.crypto.ecdsa import NIST_P256, P256SigningKey, Profile, compress_p256_point
from carchain.errors import InvalidSignature, V2xDecodeError
from carchain.v2x import codec
from carchain.v2x.its_time import compute_time32, compute_unix_s

PSID_CAM = 36  # ETSI ITS-AID for CA basic service
PSID_DENM = 37  # ETSI ITS-AID for DEN basic service
LINKAGE_VALUE_SIZE = 9
HASHED_ID8_SIZE = 8
_DURATION_UNIT_S = {
    "microseconds": 1e-6,
    "milliseconds": 1e-3,
    "seconds": 1,
    "minutes": 60,
    "hours": 3_600,
    "sixtyHours": 216_000,
    "years": 31_556_952,
}


@dataclass(frozen=True, slots=True)
class LinkageData:
    """A pseudonym certificate's linkage data: the period ``i_cert`` and the 9-byte value."""

    i_cert: int
    linkage_value: bytes

    def __post_init__(self) -> None:
        if len(self.linkage_value) != LINKAGE_VALUE_SIZE:
            raise ValueError("a linkage value is 9 bytes")
        if not 0 <= self.i_cert <= 0xFFFF:
            raise ValueError("iCert is a Uint16")


@dataclass(frozen=True, slots=True)
class Certificate:
    """A decoded explicit certificate with the bytes the checks need."""

    raw: bytes  # the canonical encoding (what HashedId8 is computed over)
    hashed_id8: bytes
    tbs: bytes  # COER of toBeSigned, as received (canonical form)
    issuer_id8: bytes | None  # None when self-signed
    linkage: LinkageData | None
    start_s: int  # Unix seconds
    end_s: int
    psids: tuple[int, ...]
    public_key: bytes  # 33-byte compressed point
    is_ca: bool  # carries certIssuePermissions
    signature_algorithm: str  # the issuer's Signature CHOICE (ecdsaNistP256Signature for ours)
    r: bytes
    s: bytes
    # the PSIDs it may issue for (certIssuePermissions), None for ``all``; empty if none
    issue_psids: frozenset[int] | None = frozenset()

    def is_valid_at(self, unix_s: int) -> bool:
        """Return whether ``unix_s`` falls in the validity period."""
        return self.start_s <= unix_s < self.end_s


def compute_hashed_id8(cert_bytes: bytes, profile: Profile = NIST_P256) -> bytes:
    """Return the HashedId8 of a certificate: the last 8 bytes of its canonical encoding's hash."""
    return profile.compute_hash(compute_canonical_certificate(cert_bytes))[-HASHED_ID8_SIZE:]


def compute_signing_digest(tbs: bytes, signer_cert: bytes, profile: Profile = NIST_P256) -> bytes:
    """Return 1609.2's ``Hash(Hash(tbs) || Hash(signer))``; ``signer_cert`` empty if self-signed."""
    return profile.compute_hash(profile.compute_hash(tbs) + profile.compute_hash(signer_cert))


def _point_choice(public_key: bytes) -> tuple[str, bytes]:
    key = compress_p256_point(public_key)
    return ("compressed-y-0" if key[0] == 2 else "compressed-y-1", key[1:])


def _tbs_value(
    cert_id: tuple[str, Any],
    public_key: bytes,
    start_s: int,
    duration_hours: int,
    psids: list[int],
) -> dict[str, Any]:
    return {
        "id": cert_id,
        "cracaId": b"\x00\x00\x00",
        "crlSeries": 0,
        "validityPeriod": {"start": compute_time32(start_s), "duration": ("hours", duration_hours)},
        "appPermissions": [{"psid": p} for p in psids],
        "verifyKeyIndicator": (
            "verificationKey",
            (NIST_P256.key_choice, _point_choice(public_key)),
        ),
    }


def _sign_certificate(
    tbs_value: dict[str, Any],
    issuer: tuple[str, Any],
    issuer_cert: bytes,
    issuer_key: P256SigningKey,
) -> bytes:
    tbs = codec.encode_to_be_signed_certificate(tbs_value)
    r, s = issuer_key.sign_digest(compute_signing_digest(tbs, issuer_cert))
    return codec.encode_certificate(
        {
            "version": 3,
            "type": "explicit",
            "issuer": issuer,
            "toBeSigned": tbs_value,
            "signature": (NIST_P256.signature_choice, {"rSig": ("x-only", r), "sSig": s}),
        }
    )


def build_ca_certificate(
    key: P256SigningKey, app_psids: list[int], start_s: int, duration_hours: int
) -> bytes:
    """Return a self-signed explicit CA certificate that may issue for ``app_psids``."""
    tbs = _tbs_value(("none", 0), key.public_key_compressed, start_s, duration_hours, app_psids)
    tbs["certIssuePermissions"] = [
        {
            "subjectPermissions": ("explicit", [{"psid": p} for p in app_psids]),
            "minChainLength": 1,
            "chainLengthRange": 0,
            "eeType": (0x80, 8),
        }
    ]
    return _sign_certificate(tbs, ("self", "sha256"), b"", key)


def build_pseudonym_certificate(
    issuer_cert: bytes,
    issuer_key: P256SigningKey,
    subject_public_key: bytes,
    start_s: int,
    duration_hours: int,
    psids: list[int],
    linkage: LinkageData,
) -> bytes:
    """Return an explicit pseudonym certificate with ``linkageData``, signed by the CA."""
    cert_id = ("linkageData", {"iCert": linkage.i_cert, "linkage-value": linkage.linkage_value})
    tbs = _tbs_value(cert_id, subject_public_key, start_s, duration_hours, psids)
    issuer_canonical = compute_canonical_certificate(issuer_cert)
    issuer = ("sha256AndDigest", compute_hashed_id8(issuer_canonical))
    return _sign_certificate(tbs, issuer, issuer_canonical, issuer_key)


def compute_canonical_certificate(cert_bytes: bytes) -> bytes:
    """Return the canonical encoding of a certificate (1609.2 6.4.3), the input unchanged if so.

    Canonical: the verification key (and encryption key) compressed, ``rSig`` as ``x-only``.
    """
    value = codec.decode_certificate_value(cert_bytes)
    try:
        changed = _canonicalise_value(value)
    except InvalidSignature as exc:  # an uncompressed key that is not a point on the curve
        raise V2xDecodeError(f"certificate: {exc.message}", kind="certificate") from exc
    if not changed:
        return bytes(cert_bytes)
    return codec.encode_certificate(value)


def get_r_coordinate(r_sig: tuple[str, Any], kind: str) -> bytes:
    """Return the x coordinate ``r`` of a signature's ``rSig`` point; raise ``V2xDecodeError``.

    ``x-only``, ``compressed-y-0/1`` and ``uncompressedP256`` carry it; ``fill`` (a NULL)
    does not, and a signature with it cannot be an ECDSA signature.
    """
    form, point = r_sig
    if form == "uncompressedP256":
        return bytes(point["x"])
    if form in ("x-only", "compressed-y-0", "compressed-y-1"):
        return bytes(point)
    raise V2xDecodeError(f"{kind}: rSig {form!r} carries no r", kind=kind)


def _canonicalise_value(value: dict[str, Any]) -> bool:
    """Rewrite non-canonical points in place; return whether anything changed."""
    changed = False
    tbs = value["toBeSigned"]
    indicator = tbs["verifyKeyIndicator"]
    if indicator[0] == "verificationKey" and indicator[1][1][0] == "uncompressedP256":
        point = indicator[1][1][1]
        compressed = compress_p256_point(b"\x04" + point["x"] + point["y"])
        tbs["verifyKeyIndicator"] = (
            "verificationKey",
            (indicator[1][0], _point_choice(compressed)),
        )
        changed = True
    signature = value.get("signature")
    if signature is not None and signature[1]["rSig"][0] != "x-only":
        signature[1]["rSig"] = ("x-only", get_r_coordinate(signature[1]["rSig"], "certificate"))
        changed = True
    return changed


def decode_certificate(raw: bytes) -> Certificate:
    """Return the typed fields of an explicit P-256 certificate; raise ``V2xDecodeError``."""
    canonical = compute_canonical_certificate(raw)
    value, (span,) = codec.decode_with_spans(
        "certificate", codec.CERTIFICATE, canonical, (("toBeSigned",),)
    )
    try:
        return _build_certificate(canonical, canonical[span.start : span.end], value)
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise V2xDecodeError(
            f"certificate: unsupported form ({type(exc).__name__})", kind="certificate"
        ) from exc


def _build_certificate(canonical: bytes, tbs_raw: bytes, value: dict[str, Any]) -> Certificate:
    tbs = value["toBeSigned"]
    if value["type"] != "explicit" or value.get("signature") is None:
        raise ValueError("only explicit certificates are supported")
    key_alg, point = tbs["verifyKeyIndicator"][1]
    signature_alg, signature = value["signature"]
    if key_alg != NIST_P256.key_choice:
        raise ValueError("only ECDSA NIST P-256 verification keys are supported")
    prefix = {"compressed-y-0": b"\x02", "compressed-y-1": b"\x03"}[point[0]]
    start_s = compute_unix_s(tbs["validityPeriod"]["start"])
    unit, count = tbs["validityPeriod"]["duration"]
    issuer_kind, issuer_value = value["issuer"]
    return Certificate(
        raw=canonical,
        hashed_id8=NIST_P256.compute_hash(canonical)[-HASHED_ID8_SIZE:],
        tbs=tbs_raw,
        issuer_id8=None if issuer_kind == "self" else issuer_value,
        linkage=_linkage(tbs["id"]),
        start_s=start_s,
        end_s=start_s + int(count * _DURATION_UNIT_S[unit]),
        psids=tuple(p["psid"] for p in tbs.get("appPermissions") or []),
        public_key=prefix + point[1],
        is_ca=tbs.get("certIssuePermissions") is not None,
        signature_algorithm=signature_alg,
        r=signature["rSig"][1],
        s=signature["sSig"],
        issue_psids=_issue_psids(tbs.get("certIssuePermissions") or []),
    )


def _issue_psids(groups: list[dict[str, Any]]) -> frozenset[int] | None:
    """Return the PSIDs a CA may issue for (the union of its groups), None for ``all``."""
    psids: set[int] = set()
    for group in groups:
        kind, ranges = group["subjectPermissions"]
        if kind == "all":
            return None
        if kind != "explicit":
            raise ValueError("unknown subjectPermissions")
        psids.update(r["psid"] for r in ranges)
    return frozenset(psids)


def _linkage(cert_id: tuple[str, Any]) -> LinkageData | None:
    if cert_id[0] != "linkageData":
        return None
    return LinkageData(i_cert=cert_id[1]["iCert"], linkage_value=cert_id[1]["linkage-value"])
