"""Legal holds: a court freezes part of a vehicle's data so that it cannot be erased.

A hold names a vehicle, data categories and a data time window, and a case by
the 32-byte hash of its reference only (no case text goes on chain). Only an
active member with the ``court`` role places one, and only the court member
that placed it lifts it. While a hold is in force, ``validate_no_hold`` refuses
the erasure of anything it covers; the lawful-access issue places holds from its
open cases and reuses that check.

Holds live in the ``lawful_access`` store: ``h/<vehicle>/<seq>`` (seq per vehicle
from 0, count under ``hn/<vehicle>``) and ``ha/<vehicle>`` the ``HoldIndex`` of the
seqs in force (at most ``MAX_HOLDS_PER_VEHICLE``): finding the holds in force reads
that index, so its cost does not grow with the holds placed and lifted before.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from carchain.core import members
from carchain.core.access_log import EventKind, process_append_event
from carchain.core.categories import validate_categories
from carchain.core.effects import Effects
from carchain.core.members import Role
from carchain.core.state import KVView, compute_key, get_record, get_record_optional, put_record
from carchain.core.types import BlockContext
from carchain.core.validation import validate_digest, validate_seq
from carchain.core.vehicles import get_vehicle
from carchain.errors import (
    CaseHoldNotLiftable,
    HoldNotInForce,
    InvalidBody,
    InvalidState,
    LegalHoldActive,
    NotHoldOwner,
)

STORE = "lawful_access"
MAX_HOLDS_PER_VEHICLE = 256
# What ``admit_court`` reads.
ADMISSION_READS = frozenset({members.STORE})


class HoldStatus(StrEnum):
    """Lifecycle of a legal hold."""

    IN_FORCE = "in_force"
    LIFTED = "lifted"


class PlaceHold(msgspec.Struct, frozen=True):
    """Body of ``legal_hold.place``: signed by an active court member."""

    vehicle_id: str
    categories: list[str]
    data_from_ms: int
    data_until_ms: int
    # SHA-256 of the case reference: the case text stays off chain.
    case_ref: bytes


class LiftHold(msgspec.Struct, frozen=True):
    """Body of ``legal_hold.lift``: signed by the court member that placed the hold."""

    vehicle_id: str
    hold_seq: int


class LegalHold(msgspec.Struct, frozen=True):
    """A legal hold as stored on chain."""

    seq: int
    vehicle_id: str
    court: str
    categories: list[str]
    data_from_ms: int
    data_until_ms: int
    case_ref: bytes
    placed_height: int
    placed_ms: int
    status: HoldStatus = HoldStatus.IN_FORCE
    lifted_height: int = 0
    lifted_ms: int = 0
    # The lawful-access case that placed the hold (0: a hold placed by legal_hold.place).
    # A case hold is sealed: it appends nothing to the vehicle's log, and only
    # case.close lifts it.
    case_id: int = 0


class HoldIndex(msgspec.Struct, frozen=True):
    """The seqs of a vehicle's legal holds in force, oldest first."""

    seqs: list[int]


# --- scopes -------------------------------------------------------------------------


def validate_scope(categories: list[str], data_from_ms: int, data_until_ms: int) -> None:
    """Raise ``InvalidBody`` unless the categories are known, sorted, unique and the
    data window is ordered (both ends inclusive, non-negative)."""
    validate_categories(categories)
    if not 0 <= data_from_ms <= data_until_ms < 2**63:
        raise InvalidBody("data window must satisfy 0 <= data_from_ms <= data_until_ms")


def is_overlapping(
    categories: list[str], from_ms: int, until_ms: int, other: list[str], o_from: int, o_until: int
) -> bool:
    """Return whether two scopes share a category and a moment of their (inclusive) windows."""
    return from_ms <= o_until and o_from <= until_ms and not set(categories).isdisjoint(other)


# --- reads --------------------------------------------------------------------------


def compute_hold_key(vehicle_id: str, seq: int) -> bytes:
    """Return the state key of a vehicle's ``seq``-th legal hold."""
    return compute_key("h", vehicle_id, seq)


def get_hold_count(view: KVView, vehicle_id: str) -> int:
    """Return how many legal holds were ever placed on the vehicle."""
    raw = view.get(STORE, compute_key("hn", vehicle_id))
    return 0 if raw is None else int.from_bytes(raw, "big")


def get_hold_optional(view: KVView, vehicle_id: str, seq: int) -> LegalHold | None:
    """Return the vehicle's ``seq``-th legal hold or ``None``."""
    return get_record_optional(view, STORE, compute_hold_key(vehicle_id, seq), LegalHold)


def get_hold(view: KVView, vehicle_id: str, seq: int) -> LegalHold:
    """Return the vehicle's ``seq``-th legal hold or raise ``NotFound``."""
    key = compute_hold_key(vehicle_id, seq)
    return get_record(view, STORE, key, LegalHold, "legal hold", vehicle_id=vehicle_id, seq=seq)


def compute_hold_index_key(vehicle_id: str) -> bytes:
    """Return the state key of the seqs of a vehicle's holds in force."""
    return compute_key("ha", vehicle_id)


def get_hold_index(view: KVView, vehicle_id: str) -> list[int]:
    """Return the seqs of the vehicle's holds in force, oldest first."""
    index = get_record_optional(view, STORE, compute_hold_index_key(vehicle_id), HoldIndex)
    return [] if index is None else list(index.seqs)


def _put_hold_index(view: KVView, vehicle_id: str, seqs: list[int]) -> None:
    put_record(view, STORE, compute_hold_index_key(vehicle_id), HoldIndex(seqs))


def get_holds_in_force(view: KVView, vehicle_id: str) -> list[LegalHold]:
    """Return the vehicle's legal holds in force, oldest first: reads the index of the
    holds in force (at most ``MAX_HOLDS_PER_VEHICLE``), not every hold ever placed."""
    found = (get_hold_optional(view, vehicle_id, s) for s in get_hold_index(view, vehicle_id))
    return [h for h in found if h is not None and h.status == HoldStatus.IN_FORCE]


def get_covering_holds(
    view: KVView, vehicle_id: str, categories: list[str], from_ms: int, until_ms: int
) -> list[LegalHold]:
    """Return the holds in force that cover any part of the scope."""
    return [
        h
        for h in get_holds_in_force(view, vehicle_id)
        if is_overlapping(
            categories, from_ms, until_ms, h.categories, h.data_from_ms, h.data_until_ms
        )
    ]


def validate_no_hold(
    view: KVView, vehicle_id: str, categories: list[str], from_ms: int, until_ms: int
) -> None:
    """Raise ``LegalHoldActive`` if a legal hold in force covers any part of the scope."""
    covering = get_covering_holds(view, vehicle_id, categories, from_ms, until_ms)
    if covering:
        raise LegalHoldActive(
            "a legal hold in force covers part of this scope",
            vehicle_id=vehicle_id,
            hold_seq=covering[0].seq,
        )


# --- transitions --------------------------------------------------------------------


def admit_court(view: KVView, signer: bytes, body: object = None) -> None:
    """Mempool admission: raise ``Unauthorized`` unless ``signer`` is an active court."""
    members.validate_active_member(view, signer, Role.COURT)


def process_place(
    view: KVView, ctx: BlockContext, signer: bytes, body: PlaceHold, fx: Effects
) -> LegalHold:
    """Place a legal hold over a vehicle's data scope; return it (its effect on erasure
    requests is ``erasure.process_place_hold``'s)."""
    court = members.validate_active_member(view, signer, Role.COURT)
    get_vehicle(view, body.vehicle_id)
    validate_scope(body.categories, body.data_from_ms, body.data_until_ms)
    validate_digest(body.case_ref, "case reference hash")
    scope = (list(body.categories), body.data_from_ms, body.data_until_ms)
    hold = _put_new_hold(view, ctx, body.vehicle_id, court.member_id, scope, body.case_ref, 0)
    _append_hold_event(view, ctx, EventKind.HOLD_PLACED, hold, signer)
    fx.emit("legal_hold_placed", vehicle_id=body.vehicle_id, seq=str(hold.seq))
    return hold


def process_place_case_hold(
    view: KVView,
    ctx: BlockContext,
    vehicle_id: str,
    court: str,
    scope: tuple[list[str], int, int],
    case_ref: bytes,
    case_id: int,
) -> LegalHold:
    """Place the sealed hold of an authorised case (``scope``: categories and an
    inclusive window); no log event, no event naming the vehicle. Return it."""
    return _put_new_hold(view, ctx, vehicle_id, court, scope, case_ref, case_id)


def _put_new_hold(
    view: KVView,
    ctx: BlockContext,
    vehicle_id: str,
    court: str,
    scope: tuple[list[str], int, int],
    case_ref: bytes,
    case_id: int,
) -> LegalHold:
    seq = get_hold_count(view, vehicle_id)
    index = get_hold_index(view, vehicle_id)
    if len(index) >= MAX_HOLDS_PER_VEHICLE:
        raise InvalidState("the vehicle has the most legal holds in force", vehicle_id=vehicle_id)
    categories, data_from_ms, data_until_ms = scope
    hold = LegalHold(
        seq,
        vehicle_id,
        court,
        list(categories),
        data_from_ms,
        data_until_ms,
        case_ref,
        ctx.height,
        ctx.time_ms,
        case_id=case_id,
    )
    put_record(view, STORE, compute_hold_key(vehicle_id, seq), hold)
    view.set(STORE, compute_key("hn", vehicle_id), (seq + 1).to_bytes(8, "big"))
    _put_hold_index(view, vehicle_id, [*index, seq])
    return hold


def process_lift(
    view: KVView, ctx: BlockContext, signer: bytes, body: LiftHold, fx: Effects
) -> LegalHold:
    """Lift a legal hold (by the court member that placed it); return the lifted hold.
    A case's hold is refused: only ``case.close`` lifts it."""
    court = members.validate_active_member(view, signer, Role.COURT)
    validate_seq(body.hold_seq, "hold seq")
    hold = get_hold(view, body.vehicle_id, body.hold_seq)
    if hold.court != court.member_id:
        raise NotHoldOwner(
            "only the court that placed the hold may lift it",
            vehicle_id=body.vehicle_id,
            hold_seq=body.hold_seq,
            member_id=court.member_id,
        )
    if hold.case_id:
        raise CaseHoldNotLiftable(
            "the hold belongs to a case: case.close lifts it",
            vehicle_id=body.vehicle_id,
            hold_seq=hold.seq,
            case_id=hold.case_id,
        )
    lifted = process_lift_hold_record(view, ctx, hold)
    _append_hold_event(view, ctx, EventKind.HOLD_LIFTED, lifted, signer)
    fx.emit("legal_hold_lifted", vehicle_id=hold.vehicle_id, seq=str(hold.seq))
    return lifted


def process_lift_hold_record(view: KVView, ctx: BlockContext, hold: LegalHold) -> LegalHold:
    """Mark a hold in force lifted and drop it from the index (no event: the caller's);
    raise ``HoldNotInForce`` if it was lifted already. Return the lifted hold."""
    if hold.status != HoldStatus.IN_FORCE:
        raise HoldNotInForce(
            "the legal hold was already lifted", vehicle_id=hold.vehicle_id, hold_seq=hold.seq
        )
    lifted = msgspec.structs.replace(
        hold, status=HoldStatus.LIFTED, lifted_height=ctx.height, lifted_ms=ctx.time_ms
    )
    put_record(view, STORE, compute_hold_key(hold.vehicle_id, hold.seq), lifted)
    kept = [s for s in get_hold_index(view, hold.vehicle_id) if s != hold.seq]
    _put_hold_index(view, hold.vehicle_id, kept)
    return lifted


def process_log_lifted(view: KVView, ctx: BlockContext, hold: LegalHold) -> None:
    """Log a lifted hold in the owner's log with no signer (a case's hold lifted by
    ``case.close`` once the case was noticed)."""
    _append_hold_event(view, ctx, EventKind.HOLD_LIFTED, hold, b"")


def _append_hold_event(
    view: KVView, ctx: BlockContext, kind: EventKind, hold: LegalHold, signer: bytes
) -> None:
    process_append_event(
        view,
        ctx,
        kind,
        hold.vehicle_id,
        signer,
        hold.court,
        hold.seq,
        hold.categories,
        hold.case_ref.hex(),
    )
