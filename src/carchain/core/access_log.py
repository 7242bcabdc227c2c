"""The access log: every grant, request, decision, release, receipt, erasure and hold.

Each event touching a vehicle is appended under ``access: log/<vehicle>/<n>``
(n counts from 0 per vehicle) and pointed to from ``access: olog/<oem>/<n>``
for the vehicle's OEM. The size counters are written at the vehicle's registration,
so an empty log is proven empty too. Both are plain state, so every entry has a proof against
the app hash, and a page is ``limit`` point reads newest first: its cost does
not grow with the length of the history. Events hold ids, categories, times,
hashes and reason codes only, never personal data.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from carchain.core.state import KVView, compute_key, get_record_optional, put_record
from carchain.core.types import BlockContext
from carchain.core.validation import NAMESPACE_SEPARATOR
from carchain.errors import InvalidBody

STORE = "access"
MAX_PAGE = 100


class EventKind(StrEnum):
    """What happened."""

    GRANT = "grant"
    WITHDRAW = "withdraw"
    REQUEST = "request"
    APPROVED = "approved"
    REFUSED = "refused"
    RELEASE = "release"
    RECEIPT = "receipt"
    ERASURE_REQUEST = "erasure_request"
    ERASURE_HELD = "erasure_held"
    ERASURE_COMPLETE = "erasure_complete"
    ERASURE_OVERDUE = "erasure_overdue"
    HOLD_PLACED = "hold_placed"
    HOLD_LIFTED = "hold_lifted"
    # Lawful access, once the case's notice is due (``case_notice``).
    CASE_NOTICE = "case_notice"
    CASE_RELEASE = "case_release"


class AccessEvent(msgspec.Struct, frozen=True):
    """One entry of a vehicle's access log."""

    seq: int
    kind: str
    height: int
    time_ms: int
    vehicle_id: str
    # The signer's public key and, for a member, its member id ("" for an owner).
    actor: bytes
    actor_member: str
    # The seq of the grant, request, erasure or hold the event is about.
    ref: int
    categories: list[str] = msgspec.field(default_factory=list)
    # A reason code (refusals), purpose, or hash (hex) the event names.
    detail: str = ""


class OemLogPointer(msgspec.Struct, frozen=True):
    """An OEM's log entry: which vehicle's which event."""

    vehicle_id: str
    seq: int


def compute_log_key(vehicle_id: str, seq: int) -> bytes:
    """Return the state key of a vehicle's ``seq``-th access event."""
    return compute_key("log", vehicle_id, seq)


def compute_oem_log_key(oem: str, seq: int) -> bytes:
    """Return the state key of an OEM's ``seq``-th access-log pointer."""
    return compute_key("olog", oem, seq)


def compute_log_size_key(vehicle_id: str) -> bytes:
    """Return the state key of a vehicle's access-log size (8 bytes, big-endian)."""
    return compute_key("logn", vehicle_id)


def compute_oem_log_size_key(oem: str) -> bytes:
    """Return the state key of an OEM's access-log size (8 bytes, big-endian)."""
    return compute_key("ologn", oem)


def _get_count(view: KVView, key: bytes) -> int:
    raw = view.get(STORE, key)
    return 0 if raw is None else int.from_bytes(raw, "big")


def get_log_size(view: KVView, vehicle_id: str) -> int:
    """Return how many events a vehicle's access log holds."""
    return _get_count(view, compute_log_size_key(vehicle_id))


def get_oem_log_size(view: KVView, oem: str) -> int:
    """Return how many events an OEM's access log holds."""
    return _get_count(view, compute_oem_log_size_key(oem))


def process_append_event(
    view: KVView,
    ctx: BlockContext,
    kind: EventKind,
    vehicle_id: str,
    actor: bytes,
    actor_member: str,
    ref: int,
    categories: list[str] | None = None,
    detail: str = "",
) -> AccessEvent:
    """Append an event to the vehicle's log and a pointer to its OEM's; return the event."""
    seq = get_log_size(view, vehicle_id)
    event = AccessEvent(
        seq,
        kind.value,
        ctx.height,
        ctx.time_ms,
        vehicle_id,
        actor,
        actor_member,
        ref,
        list(categories or []),
        detail,
    )
    put_record(view, STORE, compute_log_key(vehicle_id, seq), event)
    view.set(STORE, compute_log_size_key(vehicle_id), (seq + 1).to_bytes(8, "big"))
    # The vehicle exists (and its id was checked) when anything is logged about it; the
    # namespace is split here because ``vehicles`` imports this module (``process_open_logs``).
    oem = vehicle_id.partition(NAMESPACE_SEPARATOR)[0]
    oseq = get_oem_log_size(view, oem)
    put_record(view, STORE, compute_oem_log_key(oem, oseq), OemLogPointer(vehicle_id, seq))
    view.set(STORE, compute_oem_log_size_key(oem), (oseq + 1).to_bytes(8, "big"))
    return event


def process_open_member_log(view: KVView, member_id: str) -> None:
    """Write a new member's OEM-log size (0): every member's OEM log, even an empty
    one's, has a proof against the app hash (a non-OEM's stays empty)."""
    view.set(STORE, compute_oem_log_size_key(member_id), (0).to_bytes(8, "big"))


def process_open_logs(view: KVView, vehicle_id: str, oem: str) -> None:
    """Write a new vehicle's log size (0) and its OEM's if never written: every registered
    vehicle's log size, even an empty one's, then has a proof against the app hash."""
    view.set(STORE, compute_log_size_key(vehicle_id), (0).to_bytes(8, "big"))
    if view.get(STORE, compute_oem_log_size_key(oem)) is None:
        view.set(STORE, compute_oem_log_size_key(oem), (0).to_bytes(8, "big"))


def compute_page_seqs(size: int, before: int | None, limit: int) -> list[int]:
    """Return a newest-first page of seqs: below ``before`` (default: all), at most ``limit``."""
    if not 0 < limit <= MAX_PAGE:
        raise InvalidBody(f"page limit must be 1..{MAX_PAGE}", value=str(limit))
    top = size if before is None else min(before, size)
    if top < 0:
        raise InvalidBody("page cursor must not be negative", value=str(before))
    return list(range(top - 1, max(top - limit, 0) - 1, -1))


def get_event_optional(view: KVView, vehicle_id: str, seq: int) -> AccessEvent | None:
    """Return a vehicle's ``seq``-th access event or ``None``."""
    return get_record_optional(view, STORE, compute_log_key(vehicle_id, seq), AccessEvent)


def get_access_log_page(
    view: KVView, vehicle_id: str, before: int | None = None, limit: int = 20
) -> list[AccessEvent]:
    """Return up to ``limit`` events of a vehicle, newest first, with seq below ``before``."""
    seqs = compute_page_seqs(get_log_size(view, vehicle_id), before, limit)
    events = [get_event_optional(view, vehicle_id, s) for s in seqs]
    return [e for e in events if e is not None]


def get_oem_access_log_page(
    view: KVView, oem: str, before: int | None = None, limit: int = 20
) -> list[tuple[int, AccessEvent]]:
    """Return up to ``limit`` (OEM seq, event) pairs of an OEM's vehicles, newest first."""
    out: list[tuple[int, AccessEvent]] = []
    for oseq in compute_page_seqs(get_oem_log_size(view, oem), before, limit):
        ptr = get_record_optional(view, STORE, compute_oem_log_key(oem, oseq), OemLogPointer)
        event = None if ptr is None else get_event_optional(view, ptr.vehicle_id, ptr.seq)
        if event is not None:
            out.append((oseq, event))
    return out
