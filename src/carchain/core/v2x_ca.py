"""Pseudonym certificate authorities: one or more per OEM, registered through governance.

An OEM proposes ``RegisterPseudonymCa`` with its CA's self-signed explicit IEEE 1609.2
certificate (C-OER bytes), the CA's P-256 key and the certificate's HashedId8; the
consortium votes. The chain never decodes C-OER: it checks what it can without a
codec (the HashedId8 is the low 8 bytes of SHA-256 over the certificate bytes, as
1609.2 computes it for a certificate already in canonical form; the key's x
coordinate occurs in the certificate) and stores the bytes. Receivers decode and
check the certificate themselves before trusting it (``carchain.v2x``).
``RevokePseudonymCa`` (also by vote) ends a CA: receivers refuse its certificates.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

import msgspec

from carchain.core import members
from carchain.core.members import Member, Role
from carchain.core.state import KVView, compute_key, get_record_optional, put_record
from carchain.core.types import BlockContext, MemberId
from carchain.crypto.ecdsa import verify_p256
from carchain.errors import (
    AlreadyExists,
    InvalidV2xBody,
    PseudonymCaNotInForce,
    Unauthorized,
    UnknownPseudonymCa,
)

STORE = "v2x"
CA_KEY_PREFIX = b"ca/"
MAX_CA_CERTIFICATE_BYTES = 1024
MAX_CA_VALIDITY_S = 20 * 366 * 86400
MAX_TIME_S = 2**40
HASHED_ID8_BYTES = 8
POSSESSION_DOMAIN = b"carchain/v2x-ca-possession/v1\x00"
P256_COMPRESSED_BYTES = 33


class CaStatus(StrEnum):
    """Lifecycle of a pseudonym CA registration."""

    ACTIVE = "active"
    REVOKED = "revoked"


class PseudonymCa(msgspec.Struct, frozen=True):
    """A pseudonym CA as stored on chain (``v2x`` store, key ``ca/<hashed_id8>``)."""

    oem: MemberId
    ca_certificate: bytes
    public_key: bytes
    hashed_id8: bytes
    not_before_s: int
    not_after_s: int
    status: CaStatus
    registered_height: int
    revoked_height: int = 0
    revoked_reason: str = ""


class RegisterPseudonymCa(msgspec.Struct, frozen=True, tag="register_pseudonym_ca"):
    """Governance action: register an OEM's pseudonym CA (proposed by that OEM).

    ``possession_r``/``_s``: the CA key's ECDSA P-256 signature over
    ``compute_possession_digest(oem, hashed_id8)``: only who holds the key registers it.
    """

    oem: str
    ca_certificate: bytes
    public_key: bytes
    hashed_id8: bytes
    not_before_s: int
    not_after_s: int
    possession_r: bytes = b""
    possession_s: bytes = b""


class _Possession(msgspec.Struct, array_like=True, frozen=True):
    oem: str
    hashed_id8: bytes


def compute_possession_digest(oem: str, hashed_id8: bytes) -> bytes:
    """Return the 32-byte digest a CA key signs to be registered for ``oem``."""
    return hashlib.sha256(
        POSSESSION_DOMAIN + msgspec.msgpack.encode(_Possession(oem, hashed_id8))
    ).digest()


class RevokePseudonymCa(msgspec.Struct, frozen=True, tag="revoke_pseudonym_ca"):
    """Governance action: revoke a pseudonym CA; its certificates stop verifying."""

    hashed_id8: bytes
    reason: str


def compute_ca_key(hashed_id8: bytes) -> bytes:
    """Return the state key of a pseudonym CA."""
    return compute_key("ca", hashed_id8)


def compute_certificate_hashed_id8(certificate: bytes) -> bytes:
    """Return the 1609.2 HashedId8 of canonical certificate bytes: SHA-256's low 8 bytes."""
    return hashlib.sha256(certificate).digest()[-HASHED_ID8_BYTES:]


def get_ca_optional(view: KVView, hashed_id8: bytes) -> PseudonymCa | None:
    """Return the pseudonym CA registered under ``hashed_id8`` or ``None``."""
    if len(hashed_id8) != HASHED_ID8_BYTES:
        return None
    return get_record_optional(view, STORE, compute_ca_key(hashed_id8), PseudonymCa)


def get_ca(view: KVView, hashed_id8: bytes) -> PseudonymCa:
    """Return the pseudonym CA or raise ``UnknownPseudonymCa``."""
    ca = get_ca_optional(view, hashed_id8)
    if ca is None:
        raise UnknownPseudonymCa("no such pseudonym CA", hashed_id8=hashed_id8.hex()[:16])
    return ca


def is_ca_in_force(ca: PseudonymCa, time_s: int) -> bool:
    """Return whether the CA is active and ``time_s`` lies in its validity."""
    return ca.status == CaStatus.ACTIVE and ca.not_before_s <= time_s < ca.not_after_s


def validate_ca_in_force(view: KVView, hashed_id8: bytes, time_s: int) -> PseudonymCa:
    """Return the CA if it is registered, active and valid at ``time_s``; raise otherwise."""
    ca = get_ca(view, hashed_id8)
    if not is_ca_in_force(ca, time_s):
        status = ca.status.value if ca.status != CaStatus.ACTIVE else "outside_validity"
        raise PseudonymCaNotInForce(
            "pseudonym CA not in force", hashed_id8=hashed_id8.hex(), status=status
        )
    return ca


def validate_p256_public_key_shape(public_key: bytes, what: str) -> None:
    """Raise unless ``public_key`` has the shape of a compressed P-256 point."""
    if len(public_key) != P256_COMPRESSED_BYTES or public_key[0] not in (2, 3):
        raise InvalidV2xBody(f"{what} must be a 33-byte compressed P-256 point", field=what)


def validate_register_ca(view: KVView, action: RegisterPseudonymCa) -> None:
    """Raise unless the registration could execute now (shape, binding, OEM, uniqueness)."""
    cert = action.ca_certificate
    if not 0 < len(cert) <= MAX_CA_CERTIFICATE_BYTES:
        raise InvalidV2xBody(
            "CA certificate size", field="ca_certificate", size=len(cert),
            limit=MAX_CA_CERTIFICATE_BYTES,
        )  # fmt: skip
    validate_p256_public_key_shape(action.public_key, "public_key")
    if compute_certificate_hashed_id8(cert) != action.hashed_id8:
        raise InvalidV2xBody("hashed_id8 is not the certificate's HashedId8", field="hashed_id8")
    if action.public_key[1:] not in cert:
        raise InvalidV2xBody("the public key is not the certificate's", field="public_key")
    # the certificate is public: without proof of the key, any OEM could register another's
    # CA as its own (squatting it: the real owner could not register it, and the chain
    # would attribute its pseudonyms, and their reports, to the squatter)
    digest = compute_possession_digest(action.oem, action.hashed_id8)
    verify_p256(action.public_key, digest, action.possession_r, action.possession_s)
    if not 0 <= action.not_before_s < action.not_after_s < MAX_TIME_S:
        raise InvalidV2xBody("validity must be 0 <= not_before < not_after", field="validity")
    if action.not_after_s - action.not_before_s > MAX_CA_VALIDITY_S:
        raise InvalidV2xBody("CA validity longer than 20 years", field="validity")
    _validate_oem(view, action.oem)
    if get_ca_optional(view, action.hashed_id8) is not None:
        raise AlreadyExists("pseudonym CA already registered")


def _validate_oem(view: KVView, oem: str) -> Member:
    m = members.get_member_optional(view, oem) if oem else None
    if m is None or not members.is_active_member(m, Role.OEM):
        raise Unauthorized("a pseudonym CA belongs to an active OEM", member_id=oem[:64])
    return m


def validate_ca_proposer(proposer: Member, action: RegisterPseudonymCa) -> None:
    """Raise unless the OEM registering the CA proposes it itself."""
    if proposer.member_id != action.oem:
        raise Unauthorized(
            "only the OEM itself proposes its pseudonym CA", member_id=proposer.member_id
        )


def validate_revoke_ca(view: KVView, action: RevokePseudonymCa) -> None:
    """Raise unless the CA exists and is active."""
    if not action.reason or len(action.reason) > 128 or not action.reason.isprintable():
        raise InvalidV2xBody("reason must be 1-128 printable characters", field="reason")
    ca = get_ca(view, action.hashed_id8)
    if ca.status != CaStatus.ACTIVE:
        raise PseudonymCaNotInForce(
            "pseudonym CA already revoked", hashed_id8=ca.hashed_id8.hex(), status=ca.status.value
        )


def process_register_ca(
    view: KVView, ctx: BlockContext, action: RegisterPseudonymCa
) -> PseudonymCa:
    """Store an approved pseudonym CA; return it."""
    validate_register_ca(view, action)
    ca = PseudonymCa(
        oem=MemberId(action.oem),
        ca_certificate=action.ca_certificate,
        public_key=action.public_key,
        hashed_id8=action.hashed_id8,
        not_before_s=action.not_before_s,
        not_after_s=action.not_after_s,
        status=CaStatus.ACTIVE,
        registered_height=ctx.height,
    )
    put_record(view, STORE, compute_ca_key(ca.hashed_id8), ca)
    return ca


def process_revoke_ca(view: KVView, ctx: BlockContext, action: RevokePseudonymCa) -> PseudonymCa:
    """Mark an approved CA revoked; return it."""
    validate_revoke_ca(view, action)
    ca = msgspec.structs.replace(
        get_ca(view, action.hashed_id8),
        status=CaStatus.REVOKED,
        revoked_height=ctx.height,
        revoked_reason=action.reason,
    )
    put_record(view, STORE, compute_ca_key(ca.hashed_id8), ca)
    return ca
