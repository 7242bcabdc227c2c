"""Owner consent: grants of data categories for one purpose to one recipient, and withdrawals.

A grant is signed by the vehicle's current owner (``owners.admit_owner``) and
names the data categories, a purpose from a fixed list, a recipient (one member
by id, or every member holding a role), the window of data time it covers
(``[data_from_ms, data_until_ms)``) and an expiry (block time). Sensitive
categories (location, audio/video, biometrics) need their own grant: exactly
one category, one named recipient (PIPL art. 29, 2021 automobile data
provisions art. 9: separate consent). Default deny: a request no grant in force
covers is refused.

A grant withdrawn in the block at height h is in force up to and including h
(``withdrawn_height``), so nothing is released under it from the next block on.
A grant is also out of force once its owner no longer owns the vehicle: a new
owner's data is never released under the previous owner's consent.

State (``consents``): ``g/<vehicle>/<seq>`` the ``Grant``; ``gn/<vehicle>`` the
next seq; ``ga/<vehicle>`` the ``GrantIndex`` of seqs that may still be in force
(pruned on every new grant, capped at ``MAX_GRANTS_IN_FORCE``), so a decision
reads at most that many records whatever the vehicle's history.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from carchain.core import access_log, members, owners
from carchain.core.access_log import EventKind
from carchain.core.categories import is_sensitive_category, validate_categories
from carchain.core.effects import Effects
from carchain.core.members import ROLE_NAMES
from carchain.core.state import KVView, compute_key, get_record, get_record_optional, put_record
from carchain.core.types import BlockContext
from carchain.core.validation import validate_member_identifier, validate_seq
from carchain.core.vehicles import Vehicle
from carchain.errors import (
    GrantNotInForce,
    InvalidBody,
    NotFound,
    SensitiveConsentNotSeparate,
    TooManyGrants,
)

STORE = "consents"
MAX_GRANTS_IN_FORCE = 256
MAX_TIME_MS = 2**63 - 1


class Purpose(StrEnum):
    """What a recipient may use the data for (a fixed, documented list)."""

    MAINTENANCE_DIAGNOSTICS = "maintenance_diagnostics"
    INSURANCE = "insurance"
    NAVIGATION_MAPS = "navigation_maps"
    RESEARCH = "research"
    ACCIDENT_HANDLING = "accident_handling"
    MARKETING = "marketing"


PURPOSE_NAMES = frozenset(p.value for p in Purpose)


class GrantConsent(msgspec.Struct, frozen=True):
    """Body of ``consent.grant``: signed by the vehicle's current owner.

    Exactly one of ``recipient_id`` (a member id) and ``recipient_role`` (a role)
    is set, the other is ``""``.
    """

    vehicle_id: str
    categories: list[str]
    purpose: str
    recipient_id: str
    recipient_role: str
    data_from_ms: int
    data_until_ms: int
    expires_ms: int


class WithdrawConsent(msgspec.Struct, frozen=True):
    """Body of ``consent.withdraw``: signed by the vehicle's current owner."""

    vehicle_id: str
    grant_seq: int


class Grant(msgspec.Struct, frozen=True):
    """A grant as stored on chain: the body, who gave it, when, and its withdrawal."""

    vehicle_id: str
    seq: int
    owner: bytes
    # The vehicle's transfer count when granted: a grant holds for this ownership
    # period only, even if the same key buys the car back later.
    transfer_seq: int
    categories: list[str]
    purpose: str
    recipient_id: str
    recipient_role: str
    data_from_ms: int
    data_until_ms: int
    expires_ms: int
    height: int
    time_ms: int
    withdrawn_height: int = 0  # 0: not withdrawn


class GrantIndex(msgspec.Struct, frozen=True):
    """The seqs of a vehicle's grants that may still be in force, oldest first."""

    seqs: list[int]


# --- reads -------------------------------------------------------------------------


def compute_grant_key(vehicle_id: str, seq: int) -> bytes:
    """Return the state key of a vehicle's ``seq``-th grant."""
    return compute_key("g", vehicle_id, seq)


def compute_grant_index_key(vehicle_id: str) -> bytes:
    """Return the state key of a vehicle's index of grants that may be in force."""
    return compute_key("ga", vehicle_id)


def get_grant_count(view: KVView, vehicle_id: str) -> int:
    """Return how many grants the vehicle ever had (the next grant's seq)."""
    raw = view.get(STORE, compute_key("gn", vehicle_id))
    return 0 if raw is None else int.from_bytes(raw, "big")


def get_grant_optional(view: KVView, vehicle_id: str, seq: int) -> Grant | None:
    """Return the vehicle's ``seq``-th grant or ``None``."""
    return get_record_optional(view, STORE, compute_grant_key(vehicle_id, seq), Grant)


def get_grant(view: KVView, vehicle_id: str, seq: int) -> Grant:
    """Return the vehicle's ``seq``-th grant or raise ``NotFound``."""
    key = compute_grant_key(vehicle_id, seq)
    return get_record(view, STORE, key, Grant, "grant", vehicle_id=vehicle_id, seq=seq)


def get_grant_index(view: KVView, vehicle_id: str) -> list[int]:
    """Return the seqs of the vehicle's grants that may still be in force."""
    index = get_record_optional(view, STORE, compute_grant_index_key(vehicle_id), GrantIndex)
    return [] if index is None else list(index.seqs)


def get_grants(view: KVView, vehicle_id: str) -> list[Grant]:
    """Return the vehicle's grants that may still be in force (at most ``MAX_GRANTS_IN_FORCE``).

    A listed grant may have expired, been withdrawn in the current block, or lost
    its owner since the index was last pruned: check ``is_grant_in_force``.
    """
    grants = (get_grant_optional(view, vehicle_id, s) for s in get_grant_index(view, vehicle_id))
    return [g for g in grants if g is not None]


def is_grant_in_force(grant: Grant, vehicle: Vehicle, height: int, time_ms: int) -> bool:
    """Return whether ``grant`` is in force in the block at ``height`` and ``time_ms``.

    Not expired, not withdrawn before this block, and given by the current owner
    in its current ownership period.
    """
    if grant.withdrawn_height and height > grant.withdrawn_height:
        return False
    if grant.owner != vehicle.owner or grant.transfer_seq != vehicle.transfer_seq:
        return False
    return time_ms < grant.expires_ms


def is_grant_for(grant: Grant, member_id: str, roles: list[str]) -> bool:
    """Return whether ``grant`` names the member ``member_id`` or one of its ``roles``."""
    if grant.recipient_id:
        return grant.recipient_id == member_id
    return grant.recipient_role in roles


# --- checks ------------------------------------------------------------------------


def validate_data_window(data_from_ms: int, data_until_ms: int) -> None:
    """Raise ``InvalidBody`` unless ``0 <= data_from_ms < data_until_ms <= 2**63 - 1``."""
    if not 0 <= data_from_ms < data_until_ms <= MAX_TIME_MS:
        raise InvalidBody("data window must satisfy 0 <= from < until < 2**63")


def validate_purpose(purpose: str) -> None:
    """Raise ``InvalidBody`` unless ``purpose`` is one of ``Purpose``."""
    if purpose not in PURPOSE_NAMES:
        raise InvalidBody("unknown purpose", value=purpose[:64])


def validate_recipient(view: KVView, body: GrantConsent) -> None:
    """Raise unless exactly one of recipient id (an existing member) and role is named."""
    if bool(body.recipient_id) == bool(body.recipient_role):
        raise InvalidBody("name exactly one of a recipient member id and a recipient role")
    if body.recipient_role:
        if body.recipient_role not in ROLE_NAMES:
            raise InvalidBody("unknown role", roles=body.recipient_role[:64])
        return
    validate_member_identifier(body.recipient_id, "recipient member id")
    if members.get_member_optional(view, body.recipient_id) is None:
        raise NotFound("no such member", member_id=body.recipient_id)


def validate_separate_consent(body: GrantConsent) -> None:
    """Raise ``SensitiveConsentNotSeparate`` if a sensitive category is bundled or role-wide."""
    sensitive = [c for c in body.categories if is_sensitive_category(c)]
    if not sensitive:
        return
    if len(body.categories) != 1:
        raise SensitiveConsentNotSeparate(
            "a sensitive category needs a grant of its own", category=sensitive[0]
        )
    if not body.recipient_id:
        raise SensitiveConsentNotSeparate(
            "a sensitive category is never granted to a role, only to one member",
            category=sensitive[0],
        )


def validate_grant_body(
    view: KVView, ctx: BlockContext, vehicle: Vehicle, body: GrantConsent
) -> None:
    """Raise unless ``body`` is a grant the vehicle's owner may give in this block."""
    validate_categories(body.categories)
    validate_purpose(body.purpose)
    validate_recipient(view, body)
    validate_separate_consent(body)
    validate_data_window(body.data_from_ms, body.data_until_ms)
    if not ctx.time_ms < body.expires_ms <= MAX_TIME_MS:
        raise InvalidBody("a grant must expire after the block time")
    # An owner consents for its own data only: after a transfer, not for the
    # time the previous owner had the car.
    if vehicle.transfer_seq and body.data_from_ms < vehicle.owner_since_ms:
        raise InvalidBody("a grant may not cover data from before the owner's ownership")


# --- transitions --------------------------------------------------------------------


def _compute_pruned_index(view: KVView, ctx: BlockContext, vehicle: Vehicle) -> list[int]:
    kept = []
    for seq in get_grant_index(view, vehicle.vehicle_id):
        grant = get_grant_optional(view, vehicle.vehicle_id, seq)
        if grant is not None and is_grant_in_force(grant, vehicle, ctx.height, ctx.time_ms):
            kept.append(seq)
    return kept


def process_grant(
    view: KVView, ctx: BlockContext, signer: bytes, body: GrantConsent, fx: Effects
) -> None:
    """Record the owner's grant (next seq of the vehicle) and log it."""
    vehicle = owners.validate_owner(view, signer, body.vehicle_id)
    validate_grant_body(view, ctx, vehicle, body)
    index = _compute_pruned_index(view, ctx, vehicle)
    if len(index) >= MAX_GRANTS_IN_FORCE:
        raise TooManyGrants(
            "the vehicle has the most grants in force the chain keeps; withdraw one",
            vehicle_id=body.vehicle_id,
            limit=MAX_GRANTS_IN_FORCE,
        )
    seq = get_grant_count(view, body.vehicle_id)
    grant = Grant(
        body.vehicle_id,
        seq,
        signer,
        vehicle.transfer_seq,
        list(body.categories),
        body.purpose,
        body.recipient_id,
        body.recipient_role,
        body.data_from_ms,
        body.data_until_ms,
        body.expires_ms,
        ctx.height,
        ctx.time_ms,
    )
    put_record(view, STORE, compute_grant_key(body.vehicle_id, seq), grant)
    view.set(STORE, compute_key("gn", body.vehicle_id), (seq + 1).to_bytes(8, "big"))
    put_record(view, STORE, compute_grant_index_key(body.vehicle_id), GrantIndex([*index, seq]))
    access_log.process_append_event(
        view, ctx, EventKind.GRANT, body.vehicle_id, signer, "", seq, grant.categories, body.purpose
    )
    fx.emit("consent_granted", vehicle_id=body.vehicle_id, grant_seq=str(seq))


def process_withdraw(
    view: KVView, ctx: BlockContext, signer: bytes, body: WithdrawConsent, fx: Effects
) -> None:
    """Withdraw a grant in force: it stays in force up to this block's height only."""
    vehicle = owners.validate_owner(view, signer, body.vehicle_id)
    validate_seq(body.grant_seq, "grant seq")
    grant = get_grant(view, body.vehicle_id, body.grant_seq)
    if not is_grant_in_force(grant, vehicle, ctx.height, ctx.time_ms) or grant.withdrawn_height:
        raise GrantNotInForce(
            "grant is already withdrawn, expired or given by a previous owner",
            vehicle_id=body.vehicle_id,
            grant_seq=body.grant_seq,
        )
    updated = msgspec.structs.replace(grant, withdrawn_height=ctx.height)
    put_record(view, STORE, compute_grant_key(body.vehicle_id, body.grant_seq), updated)
    access_log.process_append_event(
        view, ctx, EventKind.WITHDRAW, body.vehicle_id, signer, "", grant.seq, grant.categories
    )
    fx.emit("consent_withdrawn", vehicle_id=body.vehicle_id, grant_seq=str(grant.seq))
