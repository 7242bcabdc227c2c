"""The escrow committee: who holds the Shamir shares of escrowed keys, k of n.

Members register an escrow key (``escrow.register_key``); governance sets a
committee (the ``SetEscrowCommittee`` action, which ``governance`` dispatches
here). A committee names seats (a member and the organisation type it sits for,
at most one custodian per type, never law enforcement), a threshold and the
categories it escrows (every sensitive category at least). A new version takes
effect from the UTC day after the change (``from_epoch``): keys of earlier
epochs stay shared to the committee that was in force for them.

State (store ``lawful_access``): ``ek/<member>`` escrow keys, ``ec/<version>``
committees (versions from 1), ``ecn`` the latest version.
"""

from __future__ import annotations

import msgspec

from carchain.core import members
from carchain.core.case_records import (
    DAY_MS,
    MAX_CUSTODIANS,
    MIN_THRESHOLD,
    STORE,
    VEHICLE_OEM_SEAT,
    CommitteeSeat,
    Custodian,
    EscrowCommittee,
    RegisterEscrowKey,
)
from carchain.core.categories import SENSITIVE_CATEGORY_NAMES, validate_categories
from carchain.core.effects import Effects
from carchain.core.members import Role
from carchain.core.state import KVView, compute_key, get_record, get_record_optional, put_record
from carchain.core.types import BlockContext
from carchain.crypto.signing import compute_x25519_public_key
from carchain.errors import (
    CategoryNotEscrowed,
    InvalidBody,
    InvalidCommittee,
    NoEscrowCommittee,
    NoEscrowKey,
)

# What ``members.admit_member`` (the admission of ``escrow.register_key``) reads.
ADMISSION_READS = frozenset({members.STORE})


class SetEscrowCommittee(msgspec.Struct, frozen=True, tag="set_escrow_committee"):
    """Governance action: the next version of the escrow committee, k of n seats."""

    seats: list[CommitteeSeat]
    threshold: int
    categories: list[str]


# --- reads --------------------------------------------------------------------------


def compute_epoch(time_ms: int) -> int:
    """Return the epoch (UTC day) of a moment."""
    return time_ms // DAY_MS


def get_escrow_key_optional(view: KVView, member_id: str) -> bytes | None:
    """Return the member's registered escrow key or ``None``."""
    return view.get(STORE, compute_key("ek", member_id))


def get_committee_count(view: KVView) -> int:
    """Return the latest committee version (0: no committee was ever set)."""
    raw = view.get(STORE, b"ecn")
    return 0 if raw is None else int.from_bytes(raw, "big")


def get_committee_optional(view: KVView, version: int) -> EscrowCommittee | None:
    """Return committee ``version`` or ``None``."""
    if not 0 < version < 2**63:
        return None
    return get_record_optional(view, STORE, compute_key("ec", version), EscrowCommittee)


def get_committee(view: KVView, version: int) -> EscrowCommittee:
    """Return committee ``version`` or raise ``NotFound``."""
    if not 0 < version < 2**63:
        raise InvalidBody("a committee version is 1..2**63-1")
    key = compute_key("ec", version)
    return get_record(
        view, STORE, key, EscrowCommittee, "escrow committee", committee_version=version
    )


def get_committee_for_epoch(view: KVView, epoch: int) -> EscrowCommittee | None:
    """Return the committee in force for ``epoch``: the latest version with
    ``from_epoch <= epoch``; ``None`` before the first committee."""
    for version in range(get_committee_count(view), 0, -1):
        committee = get_committee(view, version)
        if committee.from_epoch <= epoch:
            return committee
    return None


def get_committee_versions_for(
    view: KVView, first_epoch: int, last_epoch: int
) -> list[EscrowCommittee]:
    """Return the committees in force at some epoch of ``[first_epoch, last_epoch]``,
    oldest first (a version superseded on its first day is never in force)."""
    out: list[EscrowCommittee] = []
    upper = last_epoch
    for version in range(get_committee_count(view), 0, -1):
        if upper < first_epoch:
            break
        committee = get_committee(view, version)
        if committee.from_epoch <= upper:
            out.append(committee)
            upper = committee.from_epoch - 1
    return out[::-1]


def get_seat_key(view: KVView, custodian: Custodian, oem_member_id: str) -> bytes:
    """Return the key a share for this seat is sealed to: the custodian's escrow key;
    for the vehicle-OEM seat the OEM's escrow key, else the OEM member's public key."""
    if custodian.member_id != VEHICLE_OEM_SEAT:
        return custodian.escrow_key
    key = get_escrow_key_optional(view, oem_member_id)
    if key is not None:
        return key
    return bytes(members.get_member(view, oem_member_id).public_key)


def compute_seat_holder(custodian: Custodian, oem_member_id: str) -> str:
    """Return the member holding the seat for a vehicle made by ``oem_member_id``."""
    return oem_member_id if custodian.member_id == VEHICLE_OEM_SEAT else custodian.member_id


def validate_escrowed(view: KVView, categories: list[str], first: int, last: int) -> None:
    """Raise unless a committee is in force at every epoch of ``[first, last]`` and each
    of them escrows every one of ``categories``."""
    committees = get_committee_versions_for(view, first, last)
    if not committees or committees[0].from_epoch > first:
        raise NoEscrowCommittee("no escrow committee is in force for this epoch", epoch=first)
    for committee in committees:
        missing = [c for c in categories if c not in committee.categories]
        if missing:
            raise CategoryNotEscrowed(
                "the escrow committee does not escrow this category",
                category=missing[0],
                epoch=max(first, committee.from_epoch),
                committee_version=committee.version,
            )


# --- escrow.register_key -----------------------------------------------------------


def validate_ed25519_key(key: bytes, what: str) -> None:
    """Raise ``InvalidBody`` unless ``key`` is a 32-byte Ed25519 public key with an
    X25519 image (the HPKE recipient shares are sealed to)."""
    if len(key) != 32:
        raise InvalidBody(f"{what} must be a 32-byte Ed25519 key", length=len(key))
    try:
        compute_x25519_public_key(key)
    except ValueError as exc:
        raise InvalidBody(f"{what} is not a valid Ed25519 key") from exc


def process_register_key(
    view: KVView, ctx: BlockContext, signer: bytes, body: RegisterEscrowKey, fx: Effects
) -> None:
    """Record the signing member's escrow key (used from the next committee set)."""
    member = members.validate_active_member(view, signer)
    process_put_escrow_key(view, member.member_id, body.escrow_key)
    fx.emit("escrow_key_registered", member_id=member.member_id)


# --- SetEscrowCommittee -------------------------------------------------------------


def validate_committee_shape(action: SetEscrowCommittee) -> None:
    """Raise ``InvalidCommittee`` unless 2 <= k <= n <= 16, seats and organisation types
    are distinct, and the categories are valid and include every sensitive one."""
    n = len(action.seats)
    if not MIN_THRESHOLD <= action.threshold <= n <= MAX_CUSTODIANS:
        raise InvalidCommittee(
            f"a committee needs {MIN_THRESHOLD} <= k <= n <= {MAX_CUSTODIANS}",
            threshold=action.threshold,
        )
    if len({s.member_id for s in action.seats}) != n:
        raise InvalidCommittee("a member holds at most one seat")
    if len({s.org_type for s in action.seats}) != n:
        raise InvalidCommittee("at most one custodian per organisation type")
    validate_categories(action.categories)
    missing = SENSITIVE_CATEGORY_NAMES.difference(action.categories)
    if missing:
        raise InvalidCommittee("a committee escrows every sensitive category")


def _validate_seat(view: KVView, seat: CommitteeSeat, has_oem_seat: bool) -> Custodian | None:
    # Return the custodian (without its index) for a member seat; None for the OEM seat.
    if seat.org_type == Role.LAW_ENFORCEMENT.value:
        raise InvalidCommittee("law enforcement never holds a share", org_type=seat.org_type)
    if seat.member_id == VEHICLE_OEM_SEAT:
        if seat.org_type != Role.OEM.value:
            raise InvalidCommittee("the vehicle-OEM seat sits for oem", org_type=seat.org_type)
        return None
    member = members.get_member(view, seat.member_id)
    ids = {"member_id": seat.member_id[:64], "org_type": seat.org_type[:64]}
    if not members.is_active_member(member):
        raise InvalidCommittee("a custodian must be an active member", **ids)
    if Role.LAW_ENFORCEMENT.value in member.roles:
        # Whatever type it sits for, a member that is law enforcement never holds a share.
        raise InvalidCommittee("law enforcement never holds a share", **ids)
    if seat.org_type not in member.roles:
        raise InvalidCommittee("a custodian sits for a role it holds", **ids)
    if has_oem_seat and Role.OEM.value in member.roles:
        # The vehicle's OEM sits in the OEM seat: a second seat would count it twice.
        raise InvalidCommittee("with a vehicle-OEM seat no other seat is an OEM's", **ids)
    key = get_escrow_key_optional(view, seat.member_id)
    if key is None:
        raise NoEscrowKey("the custodian has registered no escrow key", member_id=seat.member_id)
    return Custodian(0, seat.member_id, seat.org_type, key)


def compute_custodians(view: KVView, action: SetEscrowCommittee) -> list[Custodian]:
    """Return the committee's custodians, indexed 1..n in seat order; raise if any seat
    breaks a rule (validated at proposal and again at execution)."""
    validate_committee_shape(action)
    has_oem_seat = any(s.member_id == VEHICLE_OEM_SEAT for s in action.seats)
    out: list[Custodian] = []
    for index, seat in enumerate(action.seats, start=1):
        custodian = _validate_seat(view, seat, has_oem_seat)
        if custodian is None:
            out.append(Custodian(index, VEHICLE_OEM_SEAT, seat.org_type, b""))
        else:
            out.append(msgspec.structs.replace(custodian, index=index))
    validate_distinct_seat_keys(view, out)
    return out


def validate_distinct_seat_keys(view: KVView, custodians: list[Custodian]) -> None:
    """Raise ``InvalidCommittee`` if two member seats share an escrow key, or a seat's key
    is another member's signing key (the vehicle-OEM seat falls back to it): whoever
    holds that private key would open two shares of every key."""
    keys = [c.escrow_key for c in custodians if c.member_id != VEHICLE_OEM_SEAT]
    if len(set(keys)) != len(keys):
        raise InvalidCommittee("two seats share an escrow key")
    for c in custodians:
        if c.member_id == VEHICLE_OEM_SEAT:
            continue
        holder = members.get_member_by_key_optional(view, c.escrow_key)
        if holder is not None and holder.member_id != c.member_id:
            raise InvalidCommittee(
                "a seat's escrow key is another member's key", member_id=c.member_id[:64]
            )


def validate_seated_roles(view: KVView, member_id: str, roles: list[str]) -> None:
    """Raise ``InvalidCommittee`` if ``member_id`` holds a seat of any committee version
    (its shares of those epochs' keys stay sealed to it) and ``roles`` would make it law
    enforcement, or an OEM where that version also has the vehicle-OEM seat (it would
    hold two shares of its own vehicles' keys): the rules a committee is set under keep
    holding when governance changes a custodian's roles."""
    for version in range(get_committee_count(view), 0, -1):
        committee = get_committee(view, version)
        seated = {c.member_id for c in committee.custodians}
        if member_id not in seated:
            continue
        ids = {"member_id": member_id[:64]}
        if Role.LAW_ENFORCEMENT.value in roles:
            raise InvalidCommittee("a custodian never becomes law enforcement", **ids)
        if Role.OEM.value in roles and VEHICLE_OEM_SEAT in seated:
            raise InvalidCommittee("with a vehicle-OEM seat no other seat is an OEM's", **ids)


def validate_set_committee(view: KVView, action: SetEscrowCommittee) -> None:
    """Raise unless the committee could be set in the current state."""
    compute_custodians(view, action)


def process_set_committee(
    view: KVView, ctx: BlockContext, action: SetEscrowCommittee, fx: Effects
) -> EscrowCommittee:
    """Set the next committee version, in force from the next epoch; return it."""
    committee = _put_committee(view, action, compute_epoch(ctx.time_ms) + 1, ctx.height)
    fx.emit(
        "escrow_committee_set",
        version=str(committee.version),
        from_epoch=str(committee.from_epoch),
        threshold=str(committee.threshold),
    )
    return committee


def process_genesis_committee(view: KVView, action: SetEscrowCommittee) -> EscrowCommittee:
    """Set the founding committee (version 1), in force from epoch 0: the consortium's
    genesis is its first governance decision, so lawful access works from the first day."""
    if get_committee_count(view):
        raise InvalidCommittee("the founding committee is the first one")
    return _put_committee(view, action, 0, 0)


def process_put_escrow_key(view: KVView, member_id: str, escrow_key: bytes) -> None:
    """Record a member's escrow key (its ``escrow.register_key``, or the genesis's)."""
    validate_ed25519_key(escrow_key, "escrow key")
    view.set(STORE, compute_key("ek", member_id), escrow_key)


def _put_committee(
    view: KVView, action: SetEscrowCommittee, from_epoch: int, height: int
) -> EscrowCommittee:
    custodians = compute_custodians(view, action)
    version = get_committee_count(view) + 1
    committee = EscrowCommittee(
        version, action.threshold, custodians, list(action.categories), from_epoch, height
    )
    put_record(view, STORE, compute_key("ec", version), committee)
    view.set(STORE, b"ecn", version.to_bytes(8, "big"))
    return committee
