"""Delayed notice: when a case's notification delay ends, the chain tells each owner.

Before ``notice_due_ms`` nothing of a case goes into a vehicle's access log (its hold
is sealed, its pointers live in ``lawful_access``, not in ``access``). At the end of
the first block whose time is at or past ``notice_due_ms``, ``process_due_notices``
appends one ``case_notice`` event per vehicle of the authorised scope (actor: the
authority's key; ``ref``: the case id; the categories released of that vehicle;
detail ``case_ref=<hex>;basis=<code>;court=<id>;keys=<n>;first_ms=<t>;last_ms=<t>``),
then an ``erasure_held`` event for each erasure request the case's hold on that vehicle
is holding (PIPL art. 47: the owner learns why its erasure waits), and marks the case
``noticed``. Releases after that are logged at once as ``case_release`` events
(``process_release``). Nobody has to send anything: the chain computes it.

The queue: ``nq/<day>`` (UTC day of the due time) a ``NoticeBucket`` of entries sorted
by (due time, case id); ``nqd`` the earliest day that may hold an entry. Scheduling
inserts into the due day's bucket; an extension first removes the case's entry
(``process_unschedule``) and then schedules again, so a case has one entry whatever
the number of extensions (an entry whose due time is no longer the case's is still
skipped, defensively). Work per block is
bounded: at most ``MAX_NOTICES_PER_BLOCK`` cases noticed and ``MAX_DAYS_PER_BLOCK``
buckets visited (an idle chain that wakes up days later catches up over a few
blocks); a block with nothing due writes nothing.
"""

from __future__ import annotations

import msgspec

from carchain.core import case_holds, erasure, holds, members, transparency
from carchain.core.access_log import EventKind, process_append_event
from carchain.core.case_index import (
    compute_release_vehicles,
    get_authorized_scope,
    get_vehicle_releases,
)
from carchain.core.case_records import DAY_MS, STORE, Case, CaseState, ShareRelease
from carchain.core.state import KVView, compute_key, get_record_optional, put_record
from carchain.core.types import BlockContext

MAX_NOTICES_PER_BLOCK = 4  # each case up to 64 vehicles
MAX_DAYS_PER_BLOCK = 32
CURSOR_KEY = b"nqd"


class NoticeEntry(msgspec.Struct, array_like=True, frozen=True):
    """A queued notice: when it is due, of which case."""

    due_ms: int
    case_id: int


class NoticeBucket(msgspec.Struct, frozen=True):
    """The notices due on one UTC day, sorted by (due time, case id)."""

    entries: list[NoticeEntry]


def compute_bucket_key(day: int) -> bytes:
    """Return the state key of the notice bucket of a UTC day."""
    return compute_key("nq", day)


def get_bucket(view: KVView, day: int) -> list[NoticeEntry]:
    """Return the queued notices of a UTC day, earliest first."""
    bucket = get_record_optional(view, STORE, compute_bucket_key(day), NoticeBucket)
    return [] if bucket is None else list(bucket.entries)


def _get_cursor(view: KVView) -> int | None:
    raw = view.get(STORE, CURSOR_KEY)
    return None if raw is None else int.from_bytes(raw, "big")


def _get_case(view: KVView, case_id: int) -> Case | None:
    return get_record_optional(view, STORE, compute_key("c", case_id), Case)


def _put_case(view: KVView, case: Case) -> None:
    put_record(view, STORE, compute_key("c", case.case_id), case)


# --- scheduling -----------------------------------------------------------------------


def process_schedule(view: KVView, case: Case) -> None:
    """Queue the case's notice at its ``notice_due_ms`` (after authorisation and every
    extension; an entry with an earlier due time stays queued and is skipped)."""
    if case.noticed:
        return
    day = case.notice_due_ms // DAY_MS
    entries = get_bucket(view, day)
    entry = NoticeEntry(case.notice_due_ms, case.case_id)
    if entry in entries:
        return
    entries.append(entry)
    entries.sort(key=lambda e: (e.due_ms, e.case_id))
    put_record(view, STORE, compute_bucket_key(day), NoticeBucket(entries))
    cursor = _get_cursor(view)
    if cursor is None or day < cursor:
        view.set(STORE, CURSOR_KEY, day.to_bytes(8, "big"))


def process_unschedule(view: KVView, case: Case) -> None:
    """Remove the case's queued notice at its current ``notice_due_ms`` (before an
    extension queues it again): no stale entry stays behind, so neither a bucket nor
    the end-of-block step grows with the number of extensions."""
    day = case.notice_due_ms // DAY_MS
    entries = get_bucket(view, day)
    kept = [e for e in entries if e != NoticeEntry(case.notice_due_ms, case.case_id)]
    if len(kept) == len(entries):
        return
    if kept:
        put_record(view, STORE, compute_bucket_key(day), NoticeBucket(kept))
    else:
        view.delete(STORE, compute_bucket_key(day))


def is_due_entry(case: Case | None, entry: NoticeEntry) -> bool:
    """Return whether a queue entry still stands for the case's notice (not stale)."""
    return (
        case is not None
        and not case.noticed
        and case.notice_due_ms == entry.due_ms
        and case.state in (CaseState.AUTHORIZED, CaseState.CLOSED)
    )


# --- the end-of-block step ----------------------------------------------------------


def process_due_notices(view: KVView, ctx: BlockContext) -> None:
    """Notify every case whose notice is due at this block's time (bounded per block)."""
    day = _get_cursor(view)
    if day is None:
        return
    today = ctx.time_ms // DAY_MS
    budget = MAX_NOTICES_PER_BLOCK
    visited = 0
    while day <= today and visited < MAX_DAYS_PER_BLOCK and budget > 0:
        visited += 1
        budget = _process_bucket(view, ctx, day, budget)
        # A past day's entries are all due: a bucket left non-empty means no budget.
        if budget == 0 or day == today:
            break
        day += 1
    if day != _get_cursor(view):
        view.set(STORE, CURSOR_KEY, day.to_bytes(8, "big"))


def _process_bucket(view: KVView, ctx: BlockContext, day: int, budget: int) -> int:
    """Pop the due entries of one day's bucket (up to ``budget`` notices); return the
    budget left. The bucket is rewritten only when something was popped."""
    entries = get_bucket(view, day)
    popped = 0
    while popped < len(entries) and entries[popped].due_ms <= ctx.time_ms and budget > 0:
        entry = entries[popped]
        popped += 1
        case = _get_case(view, entry.case_id)
        if case is not None and is_due_entry(case, entry):
            process_notice(view, ctx, case)
            budget -= 1
    if popped:
        rest = entries[popped:]
        if rest:
            put_record(view, STORE, compute_bucket_key(day), NoticeBucket(rest))
        else:
            view.delete(STORE, compute_bucket_key(day))
    return budget


def compute_notice_detail(case: Case, keys: int, first_ms: int, last_ms: int) -> str:
    """Return the detail of a ``case_notice`` event (hashes, codes, ids and times only)."""
    return (
        f"case_ref={case.case_ref.hex()};basis={case.legal_basis};court={case.court};"
        f"keys={keys};first_ms={first_ms};last_ms={last_ms}"
    )


def process_notice(view: KVView, ctx: BlockContext, case: Case) -> None:
    """Tell each owner of the case's vehicles: the notice, then the erasures its hold
    holds; mark the case noticed and count it."""
    # End-of-block work must never raise (every node would stop at this block): a member
    # record is never deleted, but read it optionally all the same.
    authority = members.get_member_optional(view, case.authority)
    actor = b"" if authority is None else authority.public_key
    for vehicle_id in get_authorized_scope(case).vehicles:
        released = get_vehicle_releases(view, case.case_id, vehicle_id)
        detail = compute_notice_detail(case, released.keys, released.first_ms, released.last_ms)
        process_append_event(
            view,
            ctx,
            EventKind.CASE_NOTICE,
            vehicle_id,
            actor,
            case.authority,
            case.case_id,
            released.categories,
            detail,
        )
        _process_held_erasures(view, ctx, case, vehicle_id)
    _put_case(view, msgspec.structs.replace(case, noticed=True))
    transparency.process_notice(view, ctx, case)


def _process_held_erasures(view: KVView, ctx: BlockContext, case: Case, vehicle_id: str) -> None:
    seq = case_holds.get_case_hold_seq_optional(view, case.case_id, vehicle_id)
    hold = None if seq is None else holds.get_hold_optional(view, vehicle_id, seq)
    if hold is None or hold.status != holds.HoldStatus.IN_FORCE:
        return
    for held in erasure.get_held_erasures(view, hold):
        process_append_event(
            view,
            ctx,
            EventKind.ERASURE_HELD,
            vehicle_id,
            b"",
            hold.court,
            held.seq,
            held.categories,
            f"hold={hold.seq};case={case.case_id}",
        )


def process_release(view: KVView, ctx: BlockContext, case: Case, release: ShareRelease) -> None:
    """Log a release of a case already noticed: one ``case_release`` event per vehicle
    it touches (actor: the custodian; the categories and shares of that vehicle)."""
    if not case.noticed:
        return
    custodian = members.get_member_optional(view, release.custodian)
    actor = b"" if custodian is None else custodian.public_key
    for vehicle_id, (keys, cats) in sorted(compute_release_vehicles(release).items()):
        process_append_event(
            view,
            ctx,
            EventKind.CASE_RELEASE,
            vehicle_id,
            actor,
            release.custodian,
            case.case_id,
            sorted(cats),
            f"release={release.seq};keys={keys}",
        )
