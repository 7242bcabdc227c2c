"""Consortium members: identities, roles, status and validator keys."""

from __future__ import annotations

from enum import StrEnum

import msgspec

from carchain.core import access_log, case_index
from carchain.core.state import (
    KVView,
    compute_key,
    decode_record,
    get_record,
    get_record_optional,
    put_record,
)
from carchain.core.types import MemberId, PublicKey
from carchain.core.validation import (
    validate_member_identifier,
    validate_public_key,
    validate_text,
)
from carchain.core.validators import MAX_TOTAL_VOTING_POWER
from carchain.errors import (
    AlreadyExists,
    InvalidBody,
    InvalidState,
    LivenessViolation,
    NotFound,
    Unauthorized,
)

STORE = "members"
MAX_VALIDATOR_POWER = 1_000_000


class Role(StrEnum):
    """What a member is in the consortium; a member may hold several roles."""

    OEM = "oem"
    SUPPLIER = "supplier"
    SERVICE_PROVIDER = "service_provider"
    INSURER = "insurer"
    REGULATOR = "regulator"
    LAW_ENFORCEMENT = "law_enforcement"
    COURT = "court"
    AUDITOR = "auditor"
    ASSOCIATION = "association"
    # V2X SCMS (issue 11): reviews misbehaviour reports and decides revocations
    MISBEHAVIOUR_AUTHORITY = "misbehaviour_authority"
    # V2X SCMS (issue 11): holds linkage seeds; two of them must release for a revocation
    LINKAGE_AUTHORITY = "linkage_authority"


ROLE_NAMES = frozenset(r.value for r in Role)


class MemberStatus(StrEnum):
    """Lifecycle of a member."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REMOVED = "removed"


class Member(msgspec.Struct, frozen=True):
    """A consortium member as stored on chain."""

    member_id: MemberId
    name: str
    roles: list[str]
    public_key: PublicKey
    status: MemberStatus
    joined_height: int
    validator_key: bytes = b""
    power: int = 0


MEMBER_KEY_PREFIX = b"m/"  # every member record's key starts so (listings page by it)


def compute_member_key(member_id: str) -> bytes:
    """Return the state key of a member record."""
    return compute_key("m", member_id)


def decode_member(raw: bytes) -> Member:
    """Decode a stored member record."""
    return decode_record(raw, Member)


def compute_signer_key(public_key: bytes) -> bytes:
    """Return the state key that maps a member's public key to its id."""
    return compute_key("k", public_key)


VALIDATOR_INDEX_PREFIX = b"x/"  # every validator index entry's key starts so


def compute_validator_index_key(validator_key: bytes) -> bytes:
    """Return the state key that maps a validator key to the member holding it."""
    return compute_key("x", validator_key)


def get_validator_key_of_index(index_key: bytes) -> bytes:
    """Return the validator key a validator index entry's state key names."""
    return index_key[len(VALIDATOR_INDEX_PREFIX) :]


def _claim_validator_key(view: KVView, member_id: str, old: bytes, new: bytes) -> None:
    # CometBFT knows validators by key alone: two members sharing one key would
    # let a change to one member silently change or remove the other's power.
    if new == old:
        return
    if new:
        if view.get(STORE, compute_validator_index_key(new)) is not None:
            raise AlreadyExists("validator key already belongs to a member")
        view.set(STORE, compute_validator_index_key(new), member_id.encode())
    if old:
        view.delete(STORE, compute_validator_index_key(old))


def validate_roles(roles: list[str]) -> None:
    """Raise unless ``roles`` is a non-empty, sorted, duplicate-free list of known roles."""
    if not roles:
        raise InvalidBody("a member needs at least one role")
    unknown = [r for r in roles if r not in ROLE_NAMES]
    if unknown:
        raise InvalidBody("unknown role", roles=",".join(unknown)[:100])
    if roles != sorted(set(roles)):
        raise InvalidBody("roles must be sorted and unique")


def validate_new_member(
    view: KVView, member_id: str, name: str, roles: list[str], public_key: bytes
) -> None:
    """Raise unless a member with these fields could be added now."""
    validate_member_identifier(member_id)
    validate_text(name, "member name")
    validate_roles(roles)
    validate_public_key(public_key, "member public key")
    if view.get(STORE, compute_member_key(member_id)) is not None:
        raise AlreadyExists("member id already used", member_id=member_id)
    if view.get(STORE, compute_signer_key(public_key)) is not None:
        raise AlreadyExists("public key already belongs to a member")


def validate_validator(validator_key: bytes, power: int) -> None:
    """Raise unless the validator fields are consistent."""
    if not 0 <= power <= MAX_VALIDATOR_POWER:
        raise InvalidBody("validator power out of range", power=power)
    if power and len(validator_key) != 32:
        raise InvalidBody("a validator needs a 32-byte Ed25519 key")
    if validator_key and len(validator_key) != 32:
        raise InvalidBody("validator key must be 32 bytes")


def get_member_optional(view: KVView, member_id: str) -> Member | None:
    """Return the member or ``None``."""
    return get_record_optional(view, STORE, compute_member_key(member_id), Member)


def get_member(view: KVView, member_id: str) -> Member:
    """Return the member or raise ``NotFound``."""
    key = compute_member_key(member_id)
    return get_record(view, STORE, key, Member, "member", member_id=member_id)


def get_member_by_key_optional(view: KVView, public_key: bytes) -> Member | None:
    """Return the member whose current key is ``public_key``, or ``None``."""
    raw = view.get(STORE, compute_signer_key(public_key))
    if raw is None:
        return None
    return get_member(view, raw.decode())


def get_member_by_key(view: KVView, public_key: bytes) -> Member:
    """Return the member whose current key is ``public_key`` or raise ``NotFound``."""
    m = get_member_by_key_optional(view, public_key)
    if m is None:
        raise NotFound("no member has this key")
    return m


def is_active_member(member: Member, role: Role | None = None) -> bool:
    """Return whether ``member`` is active (and, with ``role``, holds that role)."""
    if member.status != MemberStatus.ACTIVE:
        return False
    return role is None or role.value in member.roles


def get_active_member_count(view: KVView) -> int:
    """Return how many members are active (kept as a counter, never by iteration)."""
    raw = view.get("params", b"active_members")
    return 0 if raw is None else int.from_bytes(raw, "big")


def _add_active(view: KVView, delta: int) -> None:
    view.set(
        "params", b"active_members", (get_active_member_count(view) + delta).to_bytes(8, "big")
    )


def get_active_authority_count(view: KVView) -> int:
    """Return how many active members hold the ``misbehaviour_authority`` role (a
    counter: a report's evidence must be sealed to every one of them)."""
    raw = view.get("params", b"active_misbehaviour_authorities")
    return 0 if raw is None else int.from_bytes(raw, "big")


def _add_active_authority(view: KVView, roles: list[str], delta: int) -> None:
    if Role.MISBEHAVIOUR_AUTHORITY.value not in roles:
        return
    count = get_active_authority_count(view) + delta
    view.set("params", b"active_misbehaviour_authorities", count.to_bytes(8, "big"))


def get_total_validator_power(view: KVView) -> int:
    """Return the validator set's total voting power (a counter, never by iteration)."""
    raw = view.get("params", b"validator_power")
    return 0 if raw is None else int.from_bytes(raw, "big")


def get_validator_power(view: KVView, validator_key: bytes) -> int:
    """Return the voting power of ``validator_key`` in the validator set (0 if absent)."""
    raw = view.get(STORE, compute_validator_index_key(validator_key))
    if raw is None:
        return 0
    m = get_member(view, raw.decode())
    return m.power if m.validator_key == validator_key else 0


def _add_validator_power(view: KVView, delta: int) -> None:
    # Governance must never leave CometBFT without a validator: an empty set,
    # or one whose remaining power is 0, cannot sign another block, and no
    # proposal could ever undo it. Chains that never had validators (solo)
    # are unaffected.
    if delta == 0:
        return
    total = get_total_validator_power(view) + delta
    if delta < 0 and total <= 0:
        raise LivenessViolation("the change would leave the chain without a validator")
    if total > MAX_TOTAL_VOTING_POWER:
        raise LivenessViolation("total voting power would exceed CometBFT's limit", total=total)
    view.set("params", b"validator_power", total.to_bytes(8, "big"))


def validate_active_member(view: KVView, public_key: bytes, role: Role | None = None) -> Member:
    """Return the active member signing with ``public_key``; raise ``Unauthorized`` otherwise."""
    m = get_member_by_key_optional(view, public_key)
    if m is None:
        raise Unauthorized("signer is not a consortium member")
    if m.status != MemberStatus.ACTIVE:
        raise Unauthorized("member is not active", member_id=m.member_id, status=m.status)
    if role is not None and role.value not in m.roles:
        raise Unauthorized(f"member lacks the {role.value} role", member_id=m.member_id)
    return m


def admit_member(view: KVView, signer: bytes, body: object = None) -> None:
    """Mempool admission: raise ``Unauthorized`` unless ``signer`` is an active member."""
    validate_active_member(view, signer)


def admit_oem(view: KVView, signer: bytes, body: object = None) -> None:
    """Mempool admission: raise ``Unauthorized`` unless ``signer`` is an active OEM."""
    validate_active_member(view, signer, Role.OEM)


def admit_misbehaviour_authority(view: KVView, signer: bytes, body: object = None) -> None:
    """Mempool admission: raise ``Unauthorized`` unless ``signer`` is an active MA."""
    validate_active_member(view, signer, Role.MISBEHAVIOUR_AUTHORITY)


def admit_linkage_authority(view: KVView, signer: bytes, body: object = None) -> None:
    """Mempool admission: raise ``Unauthorized`` unless ``signer`` is an active LA."""
    validate_active_member(view, signer, Role.LINKAGE_AUTHORITY)


def process_add_member(
    view: KVView,
    height: int,
    member_id: str,
    name: str,
    roles: list[str],
    public_key: bytes,
    validator_key: bytes = b"",
    power: int = 0,
) -> Member:
    """Add an active member; return it."""
    validate_new_member(view, member_id, name, roles, public_key)
    validate_validator(validator_key, power)
    m = Member(
        member_id=MemberId(member_id),
        name=name,
        roles=roles,
        public_key=PublicKey(public_key),
        status=MemberStatus.ACTIVE,
        joined_height=height,
        validator_key=validator_key,
        power=power,
    )
    _add_validator_power(view, power)
    _claim_validator_key(view, member_id, b"", validator_key)
    put_record(view, STORE, compute_member_key(member_id), m)
    view.set(STORE, compute_signer_key(public_key), member_id.encode())
    _add_active(view, 1)
    _add_active_authority(view, roles, 1)
    access_log.process_open_member_log(view, member_id)
    case_index.process_open_member(view, member_id)
    return m


def process_set_status(view: KVView, member_id: str, status: MemberStatus) -> Member:
    """Move a member to ``status``; return the updated record."""
    m = get_member(view, member_id)
    if m.status == MemberStatus.REMOVED:
        raise InvalidState("member was removed", member_id=member_id)
    if m.status == status:
        raise InvalidState(f"member is already {status.value}", member_id=member_id)
    if m.status == MemberStatus.ACTIVE and get_active_member_count(view) <= 1:
        # No active member left means no vote can ever pass again.
        raise LivenessViolation("the change would leave no active member", member_id=member_id)
    if status != MemberStatus.ACTIVE:
        _add_validator_power(view, -m.power)
    if m.status == MemberStatus.ACTIVE:
        _add_active(view, -1)
        _add_active_authority(view, m.roles, -1)
    if status == MemberStatus.ACTIVE:
        _add_active(view, 1)
        _add_active_authority(view, m.roles, 1)
    if status == MemberStatus.REMOVED:
        view.delete(STORE, compute_signer_key(m.public_key))
    updated = msgspec.structs.replace(m, status=status)
    if status != MemberStatus.ACTIVE:
        updated = msgspec.structs.replace(updated, power=0)
    put_record(view, STORE, compute_member_key(member_id), updated)
    return updated


def process_change_roles(view: KVView, member_id: str, roles: list[str]) -> Member:
    """Replace a member's roles."""
    validate_roles(roles)
    m = get_member(view, member_id)
    if m.status == MemberStatus.REMOVED:
        raise InvalidState("member was removed", member_id=member_id)
    if m.status == MemberStatus.ACTIVE:
        _add_active_authority(view, m.roles, -1)
        _add_active_authority(view, roles, 1)
    updated = msgspec.structs.replace(m, roles=roles)
    put_record(view, STORE, compute_member_key(member_id), updated)
    return updated


def process_rotate_member_key(view: KVView, member_id: str, new_key: bytes) -> Member:
    """Replace a member's signing key; the old key stops working at once."""
    validate_public_key(new_key, "new public key")
    m = get_member(view, member_id)
    if m.status == MemberStatus.REMOVED:
        raise InvalidState("member was removed", member_id=member_id)
    if view.get(STORE, compute_signer_key(new_key)) is not None:
        raise AlreadyExists("public key already belongs to a member")
    view.delete(STORE, compute_signer_key(m.public_key))
    view.set(STORE, compute_signer_key(new_key), member_id.encode())
    updated = msgspec.structs.replace(m, public_key=new_key)
    put_record(view, STORE, compute_member_key(member_id), updated)
    return updated


def process_set_validator(view: KVView, member_id: str, validator_key: bytes, power: int) -> Member:
    """Set the member's validator key and voting power (0 removes the validator)."""
    validate_validator(validator_key, power)
    m = get_member(view, member_id)
    if power and not is_active_member(m):
        raise InvalidState("only an active member can validate", member_id=member_id)
    _add_validator_power(view, power - m.power)
    _claim_validator_key(view, member_id, m.validator_key, validator_key)
    updated = msgspec.structs.replace(m, validator_key=validator_key, power=power)
    put_record(view, STORE, compute_member_key(member_id), updated)
    return updated
