"""Erasure: an owner asks, the OEM's custody service crypto-shreds, the chain keeps time.

``erasure.request`` (the vehicle's current owner, or a previous owner for a window
inside its past ownership period: PIPL art. 47) names a scope: categories and a
data time window (after a sale, from the owner's ownership on only). Its deadline
is N working days of block time later (the ``erasure_working_days`` parameter,
GB/T 41871-2022's 10 by default). The vehicle's OEM destroys every key copy it
holds for the scope and posts ``erasure.complete`` with the key refs it destroyed
and a tombstone hash; after the deadline the completion is recorded ``late``. A
legal hold in force over any part of the scope (``holds``) blocks completion and
holds the request: its clock stops, and restarts from the block that lifts the
last such hold.

Overdue is on chain: at the end of every block ``process_overdue_erasures`` pops
the FIFO deadline queue while its head is due, marks those requests ``overdue``,
logs it, and lists them per OEM. Deadlines join the queue in non-decreasing order
(block time never goes back and ``compute_deadline_ms`` is monotonic, also for a
restart after a hold) as long as N is fixed; N is set at genesis only. A change of
N by a later upgrade must start a new queue (one per N, each in order, every head
checked), or a shorter deadline could wait behind a longer one.

Store ``erasure``: ``e/<vehicle>/<seq>`` requests (seq from 0, count ``en/``),
``t/<vehicle>/<seq>`` tombstones, ``p/<vehicle>`` the oldest unfinished seq,
``q/<n>`` the deadline queue (``qh`` head, ``qt`` tail), ``xw/<vehicle>/<category>``
the merged windows erasure requests named, written at the request: processing of
the scope stops at once, before the keys are shredded (what ``is_erased`` reads),
``o/<oem>/<n>`` the OEM's overdue list (``on/``) and ``oc/<oem>`` how many of its
requests are overdue now.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from carchain.core import case_records, holds, members, owners
from carchain.core.access_log import EventKind, compute_page_seqs, process_append_event
from carchain.core.case_records import Case
from carchain.core.deadlines import compute_deadline_ms
from carchain.core.effects import Effects
from carchain.core.members import Role
from carchain.core.state import KVView, compute_key, get_record, get_record_optional, put_record
from carchain.core.types import BlockContext
from carchain.core.validation import validate_digest, validate_seq
from carchain.core.vehicles import get_vehicle
from carchain.errors import ErasureNotOpen, InvalidBody, InvalidState, Unauthorized

STORE = "erasure"
PARAM_KEY = b"erasure_working_days"
DEFAULT_WORKING_DAYS = 10
MAX_WORKING_DAYS = 365
MAX_DESTROYED = 4096
# Unfinished requests a vehicle may have (from its oldest unfinished one): a hold
# placed or lifted reads that window, so an owner cannot make holds expensive.
MAX_PENDING = 256
# Disjoint erased windows kept per vehicle x category (``is_erased`` reads them all).
MAX_ERASED_WINDOWS = 256
# Requests one block marks overdue; the rest wait for the next block (bounded work).
MAX_OVERDUE_PER_BLOCK = 1000


class ErasureStatus(StrEnum):
    """Lifecycle of an erasure request."""

    OPEN = "open"
    HELD = "held"
    COMPLETE = "complete"
    OVERDUE = "overdue"


class RequestErasure(msgspec.Struct, frozen=True):
    """Body of ``erasure.request``: signed by the owner of the window's data (current or past)."""

    vehicle_id: str
    categories: list[str]
    data_from_ms: int
    data_until_ms: int


class CompleteErasure(msgspec.Struct, frozen=True):
    """Body of ``erasure.complete``: signed by the vehicle's OEM."""

    vehicle_id: str
    erasure_seq: int
    # SHA-256 refs of every key envelope (and derived key) destroyed.
    destroyed: list[bytes]
    tombstone_hash: bytes


class Erasure(msgspec.Struct, frozen=True):
    """An erasure request as stored on chain."""

    seq: int
    vehicle_id: str
    oem: str
    owner: bytes
    categories: list[str]
    data_from_ms: int
    data_until_ms: int
    requested_height: int
    requested_ms: int
    deadline_ms: int
    status: ErasureStatus
    completed_height: int = 0
    completed_ms: int = 0
    late: bool = False
    tombstone_hash: bytes = b""


class Tombstone(msgspec.Struct, frozen=True):
    """What an erasure destroyed: the key refs, and the hash the custodian committed to."""

    vehicle_id: str
    erasure_seq: int
    tombstone_hash: bytes
    destroyed: list[bytes]


class ErasureRef(msgspec.Struct, frozen=True):
    """A queue entry or an OEM's overdue list entry: which request (and its deadline)."""

    vehicle_id: str
    seq: int
    deadline_ms: int


class ErasedWindows(msgspec.Struct, frozen=True):
    """The data windows of one vehicle x category that erasure requests covered:
    sorted, disjoint, inclusive ``(from, until)`` pairs, at most ``MAX_ERASED_WINDOWS``."""

    windows: list[tuple[int, int]]


# --- reads --------------------------------------------------------------------------


def _get_u64(view: KVView, store: str, key: bytes) -> int:
    raw = view.get(store, key)
    return 0 if raw is None else int.from_bytes(raw, "big")


def _set_u64(view: KVView, key: bytes, value: int) -> None:
    view.set(STORE, key, value.to_bytes(8, "big"))


def get_erasure_working_days(view: KVView) -> int:
    """Return the chain's erasure deadline in working days (``params``; default 10)."""
    raw = view.get("params", PARAM_KEY)
    return DEFAULT_WORKING_DAYS if raw is None else int.from_bytes(raw, "big")


def compute_erasure_key(vehicle_id: str, seq: int) -> bytes:
    """Return the state key of a vehicle's ``seq``-th erasure request."""
    return compute_key("e", vehicle_id, seq)


def get_erasure_count(view: KVView, vehicle_id: str) -> int:
    """Return how many erasure requests the vehicle ever had."""
    return _get_u64(view, STORE, compute_key("en", vehicle_id))


def get_erasure_optional(view: KVView, vehicle_id: str, seq: int) -> Erasure | None:
    """Return the vehicle's ``seq``-th erasure request or ``None``."""
    return get_record_optional(view, STORE, compute_erasure_key(vehicle_id, seq), Erasure)


def get_erasure(view: KVView, vehicle_id: str, seq: int) -> Erasure:
    """Return the vehicle's ``seq``-th erasure request or raise ``NotFound``."""
    key = compute_erasure_key(vehicle_id, seq)
    return get_record(view, STORE, key, Erasure, "erasure request", vehicle_id=vehicle_id, seq=seq)


def get_erasures(view: KVView, vehicle_id: str) -> list[Erasure]:
    """Return every erasure request of the vehicle, oldest first."""
    found = (
        get_erasure_optional(view, vehicle_id, s)
        for s in range(get_erasure_count(view, vehicle_id))
    )
    return [e for e in found if e is not None]


def get_tombstone_optional(view: KVView, vehicle_id: str, seq: int) -> Tombstone | None:
    """Return the tombstone of a completed erasure or ``None``."""
    return get_record_optional(view, STORE, compute_key("t", vehicle_id, seq), Tombstone)


def get_overdue_count(view: KVView, oem: str) -> int:
    """Return how many of the OEM's erasure requests are overdue now."""
    return _get_u64(view, STORE, compute_key("oc", oem))


def get_overdue_erasures(
    view: KVView, oem: str, before: int | None = None, limit: int = 20
) -> list[tuple[int, Erasure]]:
    """Return (list seq, current request) of the OEM's requests that fell overdue, newest
    first; a request stays listed after completion (with ``late``) or a hold."""
    size = _get_u64(view, STORE, compute_key("on", oem))
    out: list[tuple[int, Erasure]] = []
    for n in compute_page_seqs(size, before, limit):
        ref = get_record_optional(view, STORE, compute_key("o", oem, n), ErasureRef)
        erasure = None if ref is None else get_erasure_optional(view, ref.vehicle_id, ref.seq)
        if erasure is not None:
            out.append((n, erasure))
    return out


def compute_erased_windows_key(vehicle_id: str, category: str) -> bytes:
    """Return the state key of a vehicle x category's ``ErasedWindows``."""
    return compute_key("xw", vehicle_id, category)


def is_erased(view: KVView, vehicle_id: str, category: str, from_ms: int, until_ms: int) -> bool:
    """Return whether an erasure request (complete or not: the owner's request stops
    processing at once, PIPL art. 47) covers ``category`` of the vehicle anywhere in
    the (inclusive) window: one read, at most ``MAX_ERASED_WINDOWS`` windows to compare."""
    key = compute_erased_windows_key(vehicle_id, category)
    record = get_record_optional(view, STORE, key, ErasedWindows)
    windows = [] if record is None else record.windows
    return any(lo <= until_ms and from_ms <= hi for lo, hi in windows)


def compute_merged_windows(
    windows: list[tuple[int, int]], new: tuple[int, int]
) -> list[tuple[int, int]]:
    """Return ``windows`` with ``new`` added: sorted, overlapping or adjacent windows
    merged; past ``MAX_ERASED_WINDOWS`` the two closest merge (the first such pair),
    which only widens what reads as erased (a request is refused, never let through)."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted([*windows, new]):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    if len(merged) > MAX_ERASED_WINDOWS:
        gaps = [merged[i + 1][0] - merged[i][1] for i in range(len(merged) - 1)]
        i = gaps.index(min(gaps))
        merged[i : i + 2] = [(merged[i][0], merged[i + 1][1])]
    return merged


def _get_pending(view: KVView, vehicle_id: str) -> list[Erasure]:
    # The unfinished window: from the oldest unfinished request to the newest.
    first = _get_u64(view, STORE, compute_key("p", vehicle_id))
    found = (
        get_erasure_optional(view, vehicle_id, s)
        for s in range(first, get_erasure_count(view, vehicle_id))
    )
    return [e for e in found if e is not None and e.status != ErasureStatus.COMPLETE]


# --- writes -------------------------------------------------------------------------


def _put_erasure(view: KVView, erasure: Erasure) -> None:
    put_record(view, STORE, compute_erasure_key(erasure.vehicle_id, erasure.seq), erasure)


def process_enqueue(view: KVView, erasure: Erasure) -> None:
    """Append the request's deadline to the overdue queue (deadlines join in order)."""
    tail = _get_u64(view, STORE, b"qt")
    entry = ErasureRef(erasure.vehicle_id, erasure.seq, erasure.deadline_ms)
    put_record(view, STORE, compute_key("q", tail), entry)
    _set_u64(view, b"qt", tail + 1)


def _add_overdue_count(view: KVView, oem: str, delta: int) -> None:
    key = compute_key("oc", oem)
    _set_u64(view, key, _get_u64(view, STORE, key) + delta)


def _append_erasure_event(
    view: KVView,
    ctx: BlockContext,
    kind: EventKind,
    erasure: Erasure,
    actor: tuple[bytes, str],
    detail: str,
) -> None:
    process_append_event(
        view,
        ctx,
        kind,
        erasure.vehicle_id,
        actor[0],
        actor[1],
        erasure.seq,
        erasure.categories,
        detail,
    )


# --- erasure.request ----------------------------------------------------------------


def process_request(
    view: KVView, ctx: BlockContext, signer: bytes, body: RequestErasure, fx: Effects
) -> None:
    """Record the owner's erasure request with its deadline; held at once if a legal
    hold in force covers part of its scope."""
    # Each owner erases the data of its own ownership, a previous one after the sale too.
    vehicle = owners.validate_window_owner(
        view, signer, body.vehicle_id, body.data_from_ms, body.data_until_ms
    )
    holds.validate_scope(body.categories, body.data_from_ms, body.data_until_ms)
    vid = body.vehicle_id
    seq = get_erasure_count(view, vid)
    if seq - _get_u64(view, STORE, compute_key("p", vid)) >= MAX_PENDING:
        raise InvalidState("the vehicle has the most unfinished erasure requests", vehicle_id=vid)
    covering = holds.get_covering_holds(
        view, vid, body.categories, body.data_from_ms, body.data_until_ms
    )
    erasure = Erasure(
        seq,
        vid,
        vehicle.oem,
        signer,
        list(body.categories),
        body.data_from_ms,
        body.data_until_ms,
        ctx.height,
        ctx.time_ms,
        compute_deadline_ms(ctx.time_ms, get_erasure_working_days(view)),
        ErasureStatus.HELD if covering else ErasureStatus.OPEN,
    )
    _put_erasure(view, erasure)
    _set_u64(view, compute_key("en", vid), seq + 1)
    # Processing stops at once: from this block no request or release covers the scope.
    _process_erased_windows(view, erasure)
    detail = f"deadline_ms={erasure.deadline_ms}"
    _append_erasure_event(view, ctx, EventKind.ERASURE_REQUEST, erasure, (signer, ""), detail)
    # A case's hold is sealed until its notice is due: the owner's log names only the
    # holds placed in the open, and a case's once the case was noticed (before that,
    # ``case_notice`` tells of it later).
    told = [h for h in covering if is_hold_told(view, h)]
    if told:
        hold = told[0]
        court = (b"", hold.court)
        detail = f"hold={hold.seq}" + (f";case={hold.case_id}" if hold.case_id else "")
        _append_erasure_event(view, ctx, EventKind.ERASURE_HELD, erasure, court, detail)
    if not covering:
        process_enqueue(view, erasure)
    fx.emit("erasure_requested", vehicle_id=vid, seq=str(seq), status=erasure.status.value)


# --- erasure.complete ---------------------------------------------------------------


def validate_destroyed(destroyed: list[bytes]) -> None:
    """Raise ``InvalidBody`` unless ``destroyed`` is at most 4096 distinct 32-byte key refs."""
    if len(destroyed) > MAX_DESTROYED:
        raise InvalidBody(f"at most {MAX_DESTROYED} destroyed key refs", size=len(destroyed))
    for ref in destroyed:
        validate_digest(ref, "destroyed key ref")
    if len(set(destroyed)) != len(destroyed):
        raise InvalidBody("destroyed key refs must not repeat")


def process_complete(
    view: KVView, ctx: BlockContext, signer: bytes, body: CompleteErasure, fx: Effects
) -> None:
    """Record the OEM's crypto-shredding of an erasure request's scope, with its tombstone."""
    oem = members.validate_active_member(view, signer, Role.OEM)
    vehicle = get_vehicle(view, body.vehicle_id)
    if vehicle.oem != oem.member_id:
        raise Unauthorized("only the vehicle's own OEM may do this", vehicle_id=body.vehicle_id)
    validate_destroyed(body.destroyed)
    validate_digest(body.tombstone_hash, "tombstone hash")
    validate_seq(body.erasure_seq, "erasure seq")
    erasure = get_erasure(view, body.vehicle_id, body.erasure_seq)
    if erasure.status == ErasureStatus.COMPLETE:
        raise ErasureNotOpen(
            "the erasure request is already complete",
            vehicle_id=erasure.vehicle_id,
            erasure_seq=erasure.seq,
            status=erasure.status.value,
        )
    holds.validate_no_hold(
        view, erasure.vehicle_id, erasure.categories, erasure.data_from_ms, erasure.data_until_ms
    )
    if erasure.status == ErasureStatus.OVERDUE:
        _add_overdue_count(view, erasure.oem, -1)
    done = msgspec.structs.replace(
        erasure,
        status=ErasureStatus.COMPLETE,
        completed_height=ctx.height,
        completed_ms=ctx.time_ms,
        late=ctx.time_ms > erasure.deadline_ms,
        tombstone_hash=body.tombstone_hash,
    )
    _put_erasure(view, done)
    tombstone = Tombstone(done.vehicle_id, done.seq, body.tombstone_hash, list(body.destroyed))
    put_record(view, STORE, compute_key("t", done.vehicle_id, done.seq), tombstone)
    _process_first_pending(view, done.vehicle_id)
    actor = (signer, oem.member_id)
    detail = body.tombstone_hash.hex()
    _append_erasure_event(view, ctx, EventKind.ERASURE_COMPLETE, done, actor, detail)
    fx.emit("erasure_completed", vehicle_id=done.vehicle_id, seq=str(done.seq), late=str(done.late))


def _process_erased_windows(view: KVView, erasure: Erasure) -> None:
    window = (erasure.data_from_ms, erasure.data_until_ms)
    for category in erasure.categories:
        key = compute_erased_windows_key(erasure.vehicle_id, category)
        record = get_record_optional(view, STORE, key, ErasedWindows)
        merged = compute_merged_windows([] if record is None else record.windows, window)
        put_record(view, STORE, key, ErasedWindows(merged))


def _process_first_pending(view: KVView, vehicle_id: str) -> None:
    # Advance past completed requests: each is passed once (amortised O(1)).
    key = compute_key("p", vehicle_id)
    first = start = _get_u64(view, STORE, key)
    count = get_erasure_count(view, vehicle_id)
    while first < count:
        e = get_erasure_optional(view, vehicle_id, first)
        if e is not None and e.status != ErasureStatus.COMPLETE:
            break
        first += 1
    if first != start:
        _set_u64(view, key, first)


# --- legal holds' effect on erasure requests ----------------------------------------


def is_hold_told(view: KVView, hold: holds.LegalHold) -> bool:
    """Return whether the owner may be told of ``hold``: placed in the open, or a case's
    hold whose case was noticed (its notice is due)."""
    if not hold.case_id:
        return True
    case = get_record_optional(view, case_records.STORE, compute_key("c", hold.case_id), Case)
    return case is not None and case.noticed


def _is_covered_by(erasure: Erasure, hold: holds.LegalHold) -> bool:
    return holds.is_overlapping(
        erasure.categories,
        erasure.data_from_ms,
        erasure.data_until_ms,
        hold.categories,
        hold.data_from_ms,
        hold.data_until_ms,
    )


def get_held_erasures(view: KVView, hold: holds.LegalHold) -> list[Erasure]:
    """Return the vehicle's unfinished requests that are held and that ``hold`` covers
    (what a case's notice tells the owner its hold is holding)."""
    return [
        e
        for e in _get_pending(view, hold.vehicle_id)
        if e.status == ErasureStatus.HELD and _is_covered_by(e, hold)
    ]


def process_place_hold(
    view: KVView, ctx: BlockContext, signer: bytes, body: holds.PlaceHold, fx: Effects
) -> None:
    """``legal_hold.place``: place the hold, and hold every unfinished erasure request it
    covers (its clock stops; the owner is told by an ``erasure_held`` event)."""
    hold = holds.process_place(view, ctx, signer, body, fx)
    process_hold_erasures(view, ctx, hold, signer)


def process_hold_erasures(
    view: KVView, ctx: BlockContext, hold: holds.LegalHold, signer: bytes | None
) -> list[Erasure]:
    """Hold every unfinished erasure request ``hold`` covers (their clocks stop); with a
    ``signer`` log an ``erasure_held`` event for each (a case's sealed hold logs none).
    Return the requests newly held."""
    held_now: list[Erasure] = []
    for erasure in _get_pending(view, hold.vehicle_id):
        if erasure.status == ErasureStatus.HELD or not _is_covered_by(erasure, hold):
            continue
        if erasure.status == ErasureStatus.OVERDUE:
            _add_overdue_count(view, erasure.oem, -1)
        held = msgspec.structs.replace(erasure, status=ErasureStatus.HELD)
        _put_erasure(view, held)
        held_now.append(held)
        if signer is not None:
            actor = (signer, hold.court)
            detail = f"hold={hold.seq}"
            _append_erasure_event(view, ctx, EventKind.ERASURE_HELD, held, actor, detail)
    return held_now


def process_lift_hold(
    view: KVView, ctx: BlockContext, signer: bytes, body: holds.LiftHold, fx: Effects
) -> None:
    """``legal_hold.lift``: lift the hold; a held request it covered that no other hold
    in force covers reopens, its deadline counted again from this block."""
    hold = holds.process_lift(view, ctx, signer, body, fx)
    process_release_erasures(view, ctx, hold)


def process_release_erasures(view: KVView, ctx: BlockContext, hold: holds.LegalHold) -> None:
    """After ``hold`` was lifted: reopen each held request it covered that no other hold
    in force covers, its deadline counted again from this block."""
    working_days = get_erasure_working_days(view)
    in_force = holds.get_holds_in_force(view, hold.vehicle_id)  # read once, not per request
    for erasure in _get_pending(view, hold.vehicle_id):
        if erasure.status != ErasureStatus.HELD or not _is_covered_by(erasure, hold):
            continue
        if any(_is_covered_by(erasure, other) for other in in_force):
            continue
        reopened = msgspec.structs.replace(
            erasure,
            status=ErasureStatus.OPEN,
            deadline_ms=compute_deadline_ms(ctx.time_ms, working_days),
        )
        _put_erasure(view, reopened)
        process_enqueue(view, reopened)


# --- the end-of-block overdue step --------------------------------------------------


def process_overdue_erasures(view: KVView, ctx: BlockContext) -> None:
    """Mark every open request whose deadline has passed (before this block's time)
    ``overdue``: pop the deadline queue while its head is due (at most
    ``MAX_OVERDUE_PER_BLOCK`` entries a block); skip entries a hold, a restart or a
    completion made stale. Writes nothing when nothing is due."""
    start = head = _get_u64(view, STORE, b"qh")
    tail = _get_u64(view, STORE, b"qt")
    while head < tail and head - start < MAX_OVERDUE_PER_BLOCK:
        entry = get_record_optional(view, STORE, compute_key("q", head), ErasureRef)
        if entry is None or entry.deadline_ms >= ctx.time_ms:
            break
        head += 1
        erasure = get_erasure_optional(view, entry.vehicle_id, entry.seq)
        if erasure is None or erasure.status != ErasureStatus.OPEN:
            continue
        if erasure.deadline_ms == entry.deadline_ms:
            process_mark_overdue(view, ctx, erasure)
    if head != start:
        _set_u64(view, b"qh", head)


def process_mark_overdue(view: KVView, ctx: BlockContext, erasure: Erasure) -> None:
    """Mark one request overdue: its record, the OEM's overdue list and count, the log."""
    overdue = msgspec.structs.replace(erasure, status=ErasureStatus.OVERDUE)
    _put_erasure(view, overdue)
    oem = erasure.oem
    n = _get_u64(view, STORE, compute_key("on", oem))
    ref = ErasureRef(erasure.vehicle_id, erasure.seq, erasure.deadline_ms)
    put_record(view, STORE, compute_key("o", oem, n), ref)
    _set_u64(view, compute_key("on", oem), n + 1)
    _add_overdue_count(view, oem, 1)
    detail = f"deadline_ms={erasure.deadline_ms}"
    _append_erasure_event(view, ctx, EventKind.ERASURE_OVERDUE, overdue, (b"", ""), detail)
