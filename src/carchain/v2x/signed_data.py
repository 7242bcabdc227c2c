"""IEEE 1609.2 / ETSI TS 103 097 ``Ieee1609Dot2Data`` SignedData: build, parse, verify.

The signature is over ``Hash(Hash(tbsData) || Hash(signer certificate))`` (1609.2 5.3.1),
where ``tbsData`` is the C-OER of ``ToBeSignedData`` EXACTLY as received: a parsed
message keeps the received bytes of ``tbsData`` and never re-encodes them (a schema with
another extension set would re-encode differently and break the signature). The signer
certificate is hashed in its canonical form (``certificates.compute_canonical_certificate``).

Parsing has two paths that give the same ``SignedMessage``:

- the fast path, for the 1609.2 profile every CAM/DENM uses (protocol version 3,
  ``signedData``, SHA-256, an ECDSA P-256 signature with ``x-only`` ``rSig``): the fixed
  3-byte prefix and the 66-byte signature are matched against templates that pycrate
  encodes at import, ``ToBeSignedData`` is decoded by pycrate from its received bytes
  (which also tells where it ends), and the signer is either a 9-byte digest (template
  again) or kept as received bytes for the receiver's certificate cache;
- the full path otherwise: pycrate decodes the whole ``Ieee1609Dot2Data`` with its
  structure, which locates ``tbsData`` in the received bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from carchain.crypto.ecdsa import NIST_P256, P256SigningKey, Profile
from carchain.errors import V2xDecodeError
from carchain.v2x import codec
from carchain.v2x.certificates import (
    build_ca_certificate,
    compute_hashed_id8,
    compute_signing_digest,
    get_r_coordinate,
)
from carchain.v2x.its_time import ITS_EPOCH_UNIX_S, compute_time64, compute_unix_ms
from carchain.v2x.tbs_layout import LAYOUTS

PROTOCOL_VERSION = 3
SIGNER_DIGEST = "digest"
SIGNER_CERTIFICATE = "certificate"
SIGNER_SELF = "self"
_R_COMPRESSED = ("compressed-y-0", "compressed-y-1")


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """A parsed SignedData: the received ``tbsData`` bytes and what the checks read."""

    raw: bytes
    tbs: bytes  # ToBeSignedData as received
    psid: int
    generation_ms: int | None  # Unix ms from headerInfo.generationTime
    expiry_ms: int | None
    payload: bytes | None  # the unsecuredData octets (a CAM or DENM in UPER)
    signer_kind: str  # digest | certificate | self
    signer_digest: bytes | None  # the HashedId8 when signer_kind is digest
    signer_certificates: tuple[bytes, ...]  # as received, when signer_kind is certificate
    r: bytes
    s: bytes
    # the pycrate-decoded tbsData when no learned layout read it (``learn_layout``)
    tbs_value: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def compute_digest(self, signer_cert_canonical: bytes, profile: Profile = NIST_P256) -> bytes:
        """Return the 32-byte digest the signature covers, given the canonical signer cert."""
        return compute_signing_digest(self.tbs, signer_cert_canonical, profile)


def build_signed_data(
    payload: bytes,
    psid: int,
    generation_ms: int,
    key: P256SigningKey,
    signer_cert: bytes,
    signer: str = SIGNER_DIGEST,
) -> bytes:
    """Return a C-OER ``Ieee1609Dot2Data`` signing ``payload`` (unsecuredData) for ``psid``.

    ``signer`` is ``digest`` (the HashedId8 of ``signer_cert``) or ``certificate`` (the
    certificate itself, as TS 103 097 asks once a second or when a neighbour is new).
    """
    tbs_value = {
        "payload": {
            "data": {"protocolVersion": PROTOCOL_VERSION, "content": ("unsecuredData", payload)}
        },
        "headerInfo": {"psid": psid, "generationTime": compute_time64(generation_ms)},
    }
    tbs = codec.encode_to_be_signed_data(tbs_value)
    r, s = key.sign_digest(compute_signing_digest(tbs, signer_cert))
    if signer == SIGNER_DIGEST:
        signer_value: tuple[str, Any] = (SIGNER_DIGEST, compute_hashed_id8(signer_cert))
    elif signer == SIGNER_CERTIFICATE:
        signer_value = (SIGNER_CERTIFICATE, [codec.decode_certificate_value(signer_cert)])
    else:
        raise ValueError("signer is digest or certificate")
    raw = codec.encode_ieee1609dot2_data(_message_value(tbs_value, signer_value, r, s))
    if raw[len(_PREFIX) : len(_PREFIX) + len(tbs)] != tbs:  # C-OER is canonical: never happens
        raise V2xDecodeError("tbsData re-encoded differently", kind="ieee1609dot2data")
    return raw


def _message_value(
    tbs_value: dict[str, Any],
    signer_value: tuple[str, Any],
    r: bytes,
    s: bytes,
    r_form: str = "x-only",
) -> dict[str, Any]:
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "content": (
            "signedData",
            {
                "hashId": "sha256",
                "tbsData": tbs_value,
                "signer": signer_value,
                "signature": (NIST_P256.signature_choice, {"rSig": (r_form, r), "sSig": s}),
            },
        ),
    }


@dataclass(frozen=True, slots=True)
class _Template:
    """Bytes pycrate writes around ``tbsData`` for the common profile, and which may vary."""

    fixed: bytes
    variable: frozenset[int]  # offsets whose byte is data (digest, r, s), not structure
    structure: tuple[tuple[int, int], ...] = field(init=False)  # (offset, byte) to match

    def __post_init__(self) -> None:
        pairs = tuple((i, b) for i, b in enumerate(self.fixed) if i not in self.variable)
        object.__setattr__(self, "structure", pairs)

    def is_match(self, data: bytes) -> bool:
        """Return whether ``data`` has the template's length and every fixed byte."""
        if len(data) != len(self.fixed):
            return False
        return all(data[i] == b for i, b in self.structure)


def _compute_templates(r_form: str) -> tuple[bytes, _Template, _Template]:
    """Derive the prefix, digest-signer and signature templates from two pycrate encodings."""
    tbs_value = {
        "payload": {
            "data": {"protocolVersion": PROTOCOL_VERSION, "content": ("unsecuredData", b"")}
        },
        "headerInfo": {"psid": 0},
    }
    tbs = codec.encode_to_be_signed_data(tbs_value)
    low, high = (
        codec.encode_ieee1609dot2_data(
            _message_value(tbs_value, (SIGNER_DIGEST, fill * 8), fill * 32, fill * 32, r_form)
        )
        for fill in (b"\x00", b"\xff")
    )
    start = low.index(tbs)
    tail_low, tail_high = low[start + len(tbs) :], high[start + len(tbs) :]
    variable = frozenset(
        i for i, (a, b) in enumerate(zip(tail_low, tail_high, strict=True)) if a != b
    )
    split = len(tail_low) - _SIGNATURE_SIZE
    signer = _Template(tail_low[:split], frozenset(i for i in variable if i < split))
    signature = _Template(tail_low[split:], frozenset(i - split for i in variable if i >= split))
    return low[:start], signer, signature


_SIGNATURE_SIZE = 66  # ecdsaNistP256Signature: choice tag, rSig tag + 32, sSig 32
_PREFIX, _DIGEST_SIGNER, _SIGNATURE = _compute_templates("x-only")
# rSig as x-only (ours) or compressed-y-0/1 (as e.g. Cohda's stack sends it): r is the x
_SIGNATURES = (_SIGNATURE, *(_compute_templates(form)[2] for form in _R_COMPRESSED))


def _compute_one_certificate_prefix() -> bytes:
    """Return what pycrate writes before the certificate in ``signer: certificate`` of one."""
    key = P256SigningKey.from_bytes(b"\x01".rjust(32, b"\x00"))
    cert = build_ca_certificate(key, [0], ITS_EPOCH_UNIX_S, 1)
    value = codec.decode_certificate_value(cert)
    with_cert = codec.encode_signer_identifier((SIGNER_CERTIFICATE, [value]))
    if not with_cert.endswith(cert):
        raise V2xDecodeError("signer template", kind="signeridentifier")
    return with_cert[: -len(cert)]


_ONE_CERTIFICATE = _compute_one_certificate_prefix()


def decode_signed_data(raw: bytes) -> SignedMessage:
    """Return the parsed SignedData of a C-OER ``Ieee1609Dot2Data``; raise ``V2xDecodeError``.

    The fast path and the full path (module docstring) return equal messages.
    """
    codec.validate_size("ieee1609dot2data", raw)
    data = bytes(raw)
    fast = _decode_fast(data)
    return fast if fast is not None else _decode_full(data)


def _decode_fast(raw: bytes) -> SignedMessage | None:
    start, minimum = len(_PREFIX), len(_PREFIX) + _SIGNATURE_SIZE + 1
    if len(raw) < minimum or raw[:start] != _PREFIX:
        return None
    signature = raw[-_SIGNATURE_SIZE:]
    if not any(template.is_match(signature) for template in _SIGNATURES):
        return None
    body_end = len(raw) - _SIGNATURE_SIZE
    digest_size = len(_DIGEST_SIGNER.fixed)
    is_digest = _DIGEST_SIGNER.is_match(raw[body_end - digest_size : body_end])
    hit = LAYOUTS.find(raw, start, body_end - digest_size - start if is_digest else None)
    if hit is not None and start + hit[0].size < body_end:
        layout, payload, time = hit
        tbs_value: dict[str, Any] = _learned_value(payload, layout.psid, time)
        used = layout.size
    else:
        tbs_value, used = codec.decode_leading(
            "tobesigneddata", codec.TO_BE_SIGNED_DATA, raw[start:body_end]
        )
        tbs = raw[start : start + used]
        message = _build_message(raw, tbs, tbs_value, raw[start + used : body_end], signature)
        return replace(message, tbs_value=tbs_value)
    tbs = raw[start : start + used]
    return _build_message(raw, tbs, tbs_value, raw[start + used : body_end], signature)


def learn_layout(message: SignedMessage) -> None:
    """Learn the ``tbsData`` layout of a message whose signature VERIFIED (the receiver's
    call), so that later messages of its shape skip the decoder.

    Learning at decode time let anyone fill the bounded table with shapes nobody signed
    (any PSID, any size: refused later, learned already), after which no real CAM's shape
    was ever learned again and every message paid the full decode.
    """
    if message.tbs_value is not None:
        LAYOUTS.learn(message.tbs, message.tbs_value)


def _learned_value(payload: bytes, psid: int, time: int) -> dict[str, Any]:
    """The value pycrate would decode for a ``tbsData`` of a learned layout."""
    return {
        "payload": {
            "data": {"protocolVersion": PROTOCOL_VERSION, "content": ("unsecuredData", payload)}
        },
        "headerInfo": {"psid": psid, "generationTime": time},
    }


def _decode_full(raw: bytes) -> SignedMessage:
    value, (tbs_span, signer_span) = codec.decode_with_spans(
        "ieee1609dot2data",
        codec.IEEE1609DOT2_DATA,
        raw,
        (("content", "tbsData"), ("content", "signer")),
    )
    if value["protocolVersion"] != PROTOCOL_VERSION or value["content"][0] != "signedData":
        raise V2xDecodeError("not a 1609.2 v3 signedData", kind="ieee1609dot2data")
    signed = value["content"][1]
    if signed["hashId"] != "sha256" or signed["signature"][0] != NIST_P256.signature_choice:
        raise V2xDecodeError("unsupported hash or signature algorithm", kind="ieee1609dot2data")
    r = get_r_coordinate(signed["signature"][1]["rSig"], "ieee1609dot2data")
    signature = _SIGNATURE.fixed[:2] + r + signed["signature"][1]["sSig"]
    tbs = raw[tbs_span.start : tbs_span.end]
    signer_raw = raw[signer_span.start : signer_span.end]
    return _build_message(raw, tbs, signed["tbsData"], signer_raw, signature)


def _build_message(
    raw: bytes, tbs: bytes, tbs_value: dict[str, Any], signer_raw: bytes, signature: bytes
) -> SignedMessage:
    kind, digest, certs = _parse_signer(signer_raw)
    header = tbs_value["headerInfo"]
    data = tbs_value["payload"].get("data")
    payload = None
    if data is not None and data["content"][0] == "unsecuredData":
        payload = data["content"][1]
    generation, expiry = header.get("generationTime"), header.get("expiryTime")
    return SignedMessage(
        raw=raw,
        tbs=tbs,
        psid=header["psid"],
        generation_ms=None if generation is None else compute_unix_ms(generation),
        expiry_ms=None if expiry is None else compute_unix_ms(expiry),
        payload=payload,
        signer_kind=kind,
        signer_digest=digest,
        signer_certificates=certs,
        r=signature[2:34],
        s=signature[34:66],
    )


def _parse_signer(signer_raw: bytes) -> tuple[str, bytes | None, tuple[bytes, ...]]:
    """Return the signer kind, digest and certificate bytes as received.

    TS 103 097 (5.2) allows ``digest`` or ``certificate`` with exactly one certificate.
    """
    if _DIGEST_SIGNER.is_match(signer_raw):
        return SIGNER_DIGEST, signer_raw[1:], ()
    if signer_raw.startswith(_ONE_CERTIFICATE) and len(signer_raw) > len(_ONE_CERTIFICATE):
        return SIGNER_CERTIFICATE, None, (signer_raw[len(_ONE_CERTIFICATE) :],)
    value, _ = codec.decode_leading("signeridentifier", codec.SIGNER_IDENTIFIER, signer_raw)
    raise V2xDecodeError(
        f"signer {value[0]!r} is not allowed (TS 103 097: digest or one certificate)",
        kind="signeridentifier",
    )
