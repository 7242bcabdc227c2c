"""Access requests: a member asks for categories x a data window for a purpose; the chain decides.

``access.request`` succeeds as a transaction whenever it is well formed, and
records the decision, so a refusal leaves a trace: approved (each requested
category with the grant that covers it) or refused (a reason code). The
decision is a pure function of the grants in force at the block
(``compute_decision``): every category must be covered by a grant in force for
the same purpose, naming the member (or, for non-sensitive categories, one of its
roles), whose data window holds the request's. Default deny.

State (``access``): ``rq/<vehicle>/<seq>`` the ``AccessRequest``; ``rqn/<vehicle>``
the next seq. Releases and receipts are in ``access_releases``.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from carchain.core import access_log, consents, erasure, members
from carchain.core.access_log import EventKind
from carchain.core.categories import is_sensitive_category, validate_categories
from carchain.core.consents import Grant
from carchain.core.effects import Effects
from carchain.core.state import KVView, compute_key, get_record, get_record_optional, put_record
from carchain.core.types import BlockContext
from carchain.core.vehicles import Vehicle, get_vehicle

STORE = access_log.STORE


class Decision(StrEnum):
    """What the chain decided about a request."""

    APPROVED = "approved"
    REFUSED = "refused"


class RefusalReason(StrEnum):
    """Why a request was refused (the stable codes in ``AccessRequest.reason``)."""

    NO_GRANT = "no_grant"
    SENSITIVE_NEEDS_NAMED_GRANT = "sensitive_needs_named_grant"
    ERASED = "erased"


class RequestAccess(msgspec.Struct, frozen=True):
    """Body of ``access.request``: signed by an active member."""

    vehicle_id: str
    categories: list[str]
    data_from_ms: int
    data_until_ms: int
    purpose: str


class Approval(msgspec.Struct, frozen=True):
    """One approved category and the seq of the grant that covers it."""

    category: str
    grant_seq: int


class AccessRequest(msgspec.Struct, frozen=True):
    """A request as stored on chain, with the chain's decision."""

    vehicle_id: str
    seq: int
    requester: bytes
    requester_member: str
    categories: list[str]
    data_from_ms: int
    data_until_ms: int
    purpose: str
    height: int
    time_ms: int
    decision: str
    reason: str = ""  # a RefusalReason when refused
    approvals: list[Approval] = msgspec.field(default_factory=list)
    released_height: int = 0  # 0: nothing released yet


# --- reads -------------------------------------------------------------------------


def compute_request_key(vehicle_id: str, seq: int) -> bytes:
    """Return the state key of a vehicle's ``seq``-th access request."""
    return compute_key("rq", vehicle_id, seq)


def get_request_count(view: KVView, vehicle_id: str) -> int:
    """Return how many access requests the vehicle ever had (the next request's seq)."""
    raw = view.get(STORE, compute_key("rqn", vehicle_id))
    return 0 if raw is None else int.from_bytes(raw, "big")


def get_request_optional(view: KVView, vehicle_id: str, seq: int) -> AccessRequest | None:
    """Return the vehicle's ``seq``-th access request or ``None``."""
    return get_record_optional(view, STORE, compute_request_key(vehicle_id, seq), AccessRequest)


def get_request(view: KVView, vehicle_id: str, seq: int) -> AccessRequest:
    """Return the vehicle's ``seq``-th access request or raise ``NotFound``."""
    key = compute_request_key(vehicle_id, seq)
    fields = {"vehicle_id": vehicle_id, "seq": seq}
    return get_record(view, STORE, key, AccessRequest, "access request", **fields)


def is_erased(
    view: KVView, vehicle_id: str, category: str, data_from_ms: int, data_until_ms: int
) -> bool:
    """Return whether data of ``category`` in the window ``[from, until)`` is erased or
    its erasure requested (processing stops at the owner's request).

    Erasure scopes are inclusive windows (``core/erasure.py``); a request's window
    excludes its end, hence the ``- 1``.
    """
    if data_until_ms <= data_from_ms:
        return False
    return erasure.is_erased(view, vehicle_id, category, data_from_ms, data_until_ms - 1)


# --- the decision ------------------------------------------------------------------


def is_grant_covering(
    grant: Grant, member: members.Member, body: RequestAccess, category: str
) -> bool:
    """Return whether ``grant`` covers ``category`` of ``body`` for ``member`` (scope only).

    A sensitive category is covered only by a grant naming the member: the
    grant rules never let a role-wide grant hold one, and the decision does
    not rely on that alone.
    """
    if is_sensitive_category(category) and grant.recipient_id != member.member_id:
        return False
    return (
        category in grant.categories
        and grant.purpose == body.purpose
        and consents.is_grant_for(grant, member.member_id, member.roles)
        and grant.data_from_ms <= body.data_from_ms
        and body.data_until_ms <= grant.data_until_ms
    )


def compute_decision(
    grants: list[Grant], member: members.Member, body: RequestAccess
) -> tuple[list[Approval], str]:
    """Return (approvals, "") if grants in force cover every category, else ([], reason).

    ``grants`` are the vehicle's grants in force at the block. The lowest-seq
    covering grant approves each category; a sensitive category is only ever
    covered by a grant naming the member (a role-wide grant cannot hold one).
    """
    approvals = []
    for category in body.categories:
        grant = next((g for g in grants if is_grant_covering(g, member, body, category)), None)
        if grant is None:
            sensitive = is_sensitive_category(category)
            reason = (
                RefusalReason.SENSITIVE_NEEDS_NAMED_GRANT if sensitive else RefusalReason.NO_GRANT
            )
            return [], reason.value
        approvals.append(Approval(category, grant.seq))
    return approvals, ""


def get_grants_in_force(view: KVView, ctx: BlockContext, vehicle: Vehicle) -> list[Grant]:
    """Return the vehicle's grants in force at this block, oldest first."""
    return [
        g
        for g in consents.get_grants(view, vehicle.vehicle_id)
        if consents.is_grant_in_force(g, vehicle, ctx.height, ctx.time_ms)
    ]


def compute_request_decision(
    view: KVView, ctx: BlockContext, vehicle: Vehicle, member: members.Member, body: RequestAccess
) -> tuple[list[Approval], str]:
    """Return the decision on ``body``: erased data first, then the grants in force."""
    for category in body.categories:
        if is_erased(view, vehicle.vehicle_id, category, body.data_from_ms, body.data_until_ms):
            return [], RefusalReason.ERASED.value
    return compute_decision(get_grants_in_force(view, ctx, vehicle), member, body)


# --- the transition -----------------------------------------------------------------


def validate_request_body(body: RequestAccess) -> None:
    """Raise ``InvalidBody`` unless the request's fields are well formed."""
    validate_categories(body.categories)
    consents.validate_purpose(body.purpose)
    consents.validate_data_window(body.data_from_ms, body.data_until_ms)


def process_request(
    view: KVView, ctx: BlockContext, signer: bytes, body: RequestAccess, fx: Effects
) -> None:
    """Record the request and the chain's decision on it; log both."""
    member = members.validate_active_member(view, signer)
    validate_request_body(body)
    vehicle = get_vehicle(view, body.vehicle_id)
    approvals, reason = compute_request_decision(view, ctx, vehicle, member, body)
    decision = Decision.REFUSED if reason else Decision.APPROVED
    seq = get_request_count(view, body.vehicle_id)
    request = AccessRequest(
        body.vehicle_id,
        seq,
        signer,
        member.member_id,
        list(body.categories),
        body.data_from_ms,
        body.data_until_ms,
        body.purpose,
        ctx.height,
        ctx.time_ms,
        decision.value,
        reason,
        approvals,
    )
    put_record(view, STORE, compute_request_key(body.vehicle_id, seq), request)
    view.set(STORE, compute_key("rqn", body.vehicle_id), (seq + 1).to_bytes(8, "big"))
    _process_log_request(view, ctx, request)
    fx.emit("access_requested", vehicle_id=body.vehicle_id, request_seq=str(seq))
    fx.emit(f"access_{decision.value}", vehicle_id=body.vehicle_id, request_seq=str(seq))


def _process_log_request(view: KVView, ctx: BlockContext, request: AccessRequest) -> None:
    vid, seq, cats = request.vehicle_id, request.seq, request.categories
    actor, who = request.requester, request.requester_member
    access_log.process_append_event(
        view, ctx, EventKind.REQUEST, vid, actor, who, seq, cats, request.purpose
    )
    if request.decision == Decision.APPROVED:
        detail = ",".join(str(a.grant_seq) for a in request.approvals)
        access_log.process_append_event(
            view, ctx, EventKind.APPROVED, vid, actor, who, seq, cats, detail
        )
    else:
        access_log.process_append_event(
            view, ctx, EventKind.REFUSED, vid, actor, who, seq, cats, request.reason
        )
