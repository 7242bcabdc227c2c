"""Lawful-access cases: a state machine on chain, every transition a signed transaction.

``case.open`` (law enforcement) names a legal basis, a scope (vehicles x categories
x half-open data window) and hashes only. ``case.authorize`` (a court of another
organisation) may narrow the scope, sets an expiry and a notification delay, and
places the case's sealed legal holds (``case_holds``); ``case.reject`` refuses it.
Custodians of the committees the scope's epochs use vote (``case_votes``); shares
are released by ``escrow_releases``. The authorising court may lengthen the notice
delay (``case.extend_notice``, capped by the chain parameter ``max_notice_delay_ms``);
the authority files its report (``case.report``); the authority or the court closes
the case (``case.close``), which lifts its holds.

State (store ``lawful_access``): ``cn`` the case count, ``c/<case_id>`` the cases
(ids from 1). Events carry ids and counts only, never a vehicle of a sealed case.
"""

from __future__ import annotations

import msgspec

from carchain.core import case_holds, case_index, case_notice, members, transparency
from carchain.core.case_records import (
    DAY_MS,
    MAX_AUTHORIZATION_MS,
    MAX_CASE_DAYS,
    MAX_CASE_VEHICLES,
    MAX_NOTICE_DELAY_MS_DEFAULT,
    STORE,
    AuthorizeCase,
    Case,
    CaseScope,
    CaseState,
    CloseCase,
    DeclineReason,
    ExtendNotice,
    OpenCase,
    RejectCase,
    ReportCase,
)
from carchain.core.categories import validate_categories
from carchain.core.effects import Effects
from carchain.core.escrow_committee import (
    compute_epoch,
    validate_ed25519_key,
    validate_escrowed,
)
from carchain.core.legal_basis import validate_legal_basis
from carchain.core.members import Member, Role
from carchain.core.state import KVView, compute_key, get_record, get_record_optional, put_record
from carchain.core.types import BlockContext
from carchain.core.validation import validate_digest
from carchain.core.vehicles import get_vehicle
from carchain.errors import (
    CaseAlreadyReported,
    CaseEnded,
    CaseExpired,
    CaseNotAuthorized,
    CaseNotOpen,
    CourtNotIndependent,
    InvalidBody,
    InvalidState,
    NotCaseParty,
    NoticeDelayOutOfRange,
    ScopeWidened,
)

PARAM_MAX_NOTICE_DELAY = b"max_notice_delay_ms"
MAX_NOTICE_DELAY_CAP_MS = 3 * 366 * DAY_MS  # the most a genesis may set the cap to
DECLINE_REASONS = frozenset(r.value for r in DeclineReason)
# What the admissions of the case transactions read (each checks the signer's member role).
ADMISSION_READS = frozenset({members.STORE})


# --- reads --------------------------------------------------------------------------


def get_max_notice_delay_ms(view: KVView) -> int:
    """Return the chain's cap on a case's notification delay (``params``; 180 days)."""
    raw = view.get("params", PARAM_MAX_NOTICE_DELAY)
    return MAX_NOTICE_DELAY_MS_DEFAULT if raw is None else int.from_bytes(raw, "big")


def get_case_count(view: KVView) -> int:
    """Return how many cases were ever opened (the latest case id)."""
    raw = view.get(STORE, b"cn")
    return 0 if raw is None else int.from_bytes(raw, "big")


def compute_case_key(case_id: int) -> bytes:
    """Return the state key of a case."""
    return compute_key("c", case_id)


def get_case_optional(view: KVView, case_id: int) -> Case | None:
    """Return the case or ``None`` (also for an id no case can have)."""
    if not 0 < case_id < 2**63:
        return None
    return get_record_optional(view, STORE, compute_case_key(case_id), Case)


def get_case(view: KVView, case_id: int) -> Case:
    """Return the case or raise ``NotFound`` (``InvalidBody`` for an impossible id)."""
    if not 0 < case_id < 2**63:
        raise InvalidBody("a case id is 1..2**63-1")
    return get_record(view, STORE, compute_case_key(case_id), Case, "case", case_id=case_id)


def compute_scope_epochs(scope: CaseScope) -> tuple[int, int]:
    """Return the first and last epoch of the scope's half-open window."""
    return compute_epoch(scope.data_from_ms), compute_epoch(scope.data_until_ms - 1)


def get_authorized_scope(case: Case) -> CaseScope:
    """Return the case's authorised scope; raise ``CaseNotAuthorized`` if it has none."""
    if case.scope is None:
        raise CaseNotAuthorized(
            "the case was never authorised", case_id=case.case_id, state=case.state.value
        )
    return case.scope


def is_expired(case: Case, time_ms: int) -> bool:
    """Return whether the case's authorisation has expired at ``time_ms``."""
    return case.state == CaseState.AUTHORIZED and time_ms >= case.expires_ms


# --- checks -------------------------------------------------------------------------


def validate_case_scope(view: KVView, scope: CaseScope) -> None:
    """Raise unless the scope is 1..64 sorted unique registered vehicles, valid sorted
    categories, a non-empty window of at most 366 days, each category escrowed by the
    committee of every epoch of the window."""
    if not 0 < len(scope.vehicles) <= MAX_CASE_VEHICLES:
        raise InvalidBody(f"a case names 1-{MAX_CASE_VEHICLES} vehicles")
    if scope.vehicles != sorted(set(scope.vehicles)):
        raise InvalidBody("case vehicles must be sorted and unique")
    validate_categories(scope.categories)
    if not 0 <= scope.data_from_ms < scope.data_until_ms < 2**63:
        raise InvalidBody("data window must satisfy 0 <= data_from_ms < data_until_ms")
    if scope.data_until_ms - scope.data_from_ms > MAX_CASE_DAYS * DAY_MS:
        raise InvalidBody(f"a case's data window spans at most {MAX_CASE_DAYS} days")
    for vehicle_id in scope.vehicles:
        get_vehicle(view, vehicle_id)
    validate_escrowed(view, scope.categories, *compute_scope_epochs(scope))


def validate_scope_within(case_id: int, opened: CaseScope, scope: CaseScope) -> None:
    """Raise ``ScopeWidened`` unless ``scope`` is inside ``opened`` (vehicles, categories,
    window)."""
    wider = [v for v in scope.vehicles if v not in opened.vehicles]
    if wider:
        raise ScopeWidened("vehicle not in the opened case", case_id=case_id, vehicle_id=wider[0])
    extra = [c for c in scope.categories if c not in opened.categories]
    if extra:
        raise ScopeWidened("category not in the opened case", case_id=case_id, category=extra[0])
    if scope.data_from_ms < opened.data_from_ms or scope.data_until_ms > opened.data_until_ms:
        raise ScopeWidened("data window outside the opened case's", case_id=case_id)


def validate_state(case: Case, state: CaseState) -> None:
    """Raise the typed error of a case not in ``state`` (``OPEN`` or ``AUTHORIZED``)."""
    if case.state == state:
        return
    fields = {"case_id": case.case_id, "state": case.state.value}
    if state == CaseState.OPEN:
        raise CaseNotOpen("the case is not open", **fields)
    raise CaseNotAuthorized("the case is not authorised", **fields)


def validate_unexpired(case: Case, ctx: BlockContext) -> None:
    """Raise ``CaseExpired`` if the authorisation expired before this block."""
    if is_expired(case, ctx.time_ms):
        raise CaseExpired(
            "the case's authorisation has expired", case_id=case.case_id, expires_ms=case.expires_ms
        )


def validate_parties_active(view: KVView, case: Case) -> None:
    """Raise ``CaseNotAuthorized`` unless the case's authority and authorising court are
    still active members: a suspended (or removed) party's case unlocks nothing more,
    as a suspended custodian's approval no longer counts."""
    for member_id in (case.authority, case.court):
        member = members.get_member_optional(view, member_id)
        if member is None or member.status != members.MemberStatus.ACTIVE:
            raise CaseNotAuthorized(
                "a party of the case is no longer an active member",
                case_id=case.case_id,
                state="party_inactive",
            )


def validate_independent_court(view: KVView, signer: bytes, case: Case) -> Member:
    """Return the active court signing; raise ``CourtNotIndependent`` if it is the case's
    authority or also holds the law-enforcement role."""
    court = members.validate_active_member(view, signer, Role.COURT)
    if court.member_id == case.authority or Role.LAW_ENFORCEMENT.value in court.roles:
        raise CourtNotIndependent(
            "a court never decides a case of its own organisation", case_id=case.case_id
        )
    return court


def is_conflicted_custodian(case: Case, member: Member) -> bool:
    """Return whether ``member`` may not act as a custodian of ``case``: it is the case's
    authority or its authorising court (which would check its own decision), or holds the
    law-enforcement role now (roles can change after a committee is set; law enforcement
    never holds a share)."""
    return (
        member.member_id in (case.authority, case.court)
        or Role.LAW_ENFORCEMENT.value in member.roles
    )


def validate_authority(view: KVView, signer: bytes, case: Case) -> Member:
    """Return the case's authority (active, law enforcement) or raise ``NotCaseParty``."""
    member = members.validate_active_member(view, signer, Role.LAW_ENFORCEMENT)
    if member.member_id != case.authority:
        raise NotCaseParty("only the case's authority may do this", case_id=case.case_id)
    return member


def validate_decline_reason(reason: str) -> None:
    """Raise ``InvalidBody`` unless ``reason`` is a ``DeclineReason`` code (no free text)."""
    if reason not in DECLINE_REASONS:
        raise InvalidBody("reason must be a decline reason code", value=reason[:40])


# --- writes -------------------------------------------------------------------------


def process_put_case(view: KVView, ctx: BlockContext, before: Case | None, after: Case) -> None:
    """Store a case's new state and count the change for transparency."""
    put_record(view, STORE, compute_case_key(after.case_id), after)
    transparency.process_transition(view, ctx, before, after)


# --- admissions -----------------------------------------------------------------------


def admit_law_enforcement(view: KVView, signer: bytes, body: object = None) -> None:
    """Mempool admission: raise ``Unauthorized`` unless ``signer`` is active law enforcement."""
    members.validate_active_member(view, signer, Role.LAW_ENFORCEMENT)


def admit_court(view: KVView, signer: bytes, body: object = None) -> None:
    """Mempool admission: raise ``Unauthorized`` unless ``signer`` is an active court."""
    members.validate_active_member(view, signer, Role.COURT)


# --- case.open ------------------------------------------------------------------------


def process_open(
    view: KVView, ctx: BlockContext, signer: bytes, body: OpenCase, fx: Effects
) -> None:
    """Open a case for the signing law-enforcement member (its id is the next count);
    its sealed holds preserve the opened scope while a court decides."""
    authority = members.validate_active_member(view, signer, Role.LAW_ENFORCEMENT)
    validate_legal_basis(body.legal_basis)
    validate_digest(body.case_ref, "case reference hash")
    validate_digest(body.justification_hash, "justification hash")
    validate_ed25519_key(body.officer_key, "officer key")
    validate_case_scope(view, body.scope)
    case_id = get_case_count(view) + 1
    view.set(STORE, b"cn", case_id.to_bytes(8, "big"))
    case = Case(
        case_id=case_id,
        case_ref=body.case_ref,
        legal_basis=body.legal_basis,
        authority=authority.member_id,
        officer_key=body.officer_key,
        justification_hash=body.justification_hash,
        opened_scope=body.scope,
        opened_height=ctx.height,
        opened_ms=ctx.time_ms,
    )
    process_put_case(view, ctx, None, case)
    case_holds.process_place_case_holds(view, ctx, case, body.scope, authority.member_id)
    # The release and receipt counters exist from the opening (0), so a reader proves
    # "none yet" instead of taking a node's or a bundle's word for it.
    for prefix in ("crn", "rcpn"):
        view.set(STORE, compute_key(prefix, case_id), (0).to_bytes(8, "big"))
    fx.emit("case_opened", case_id=str(case_id), vehicles=str(len(body.scope.vehicles)))


# --- case.authorize / case.reject -------------------------------------------------------


def validate_authorization(
    view: KVView, ctx: BlockContext, case: Case, body: AuthorizeCase
) -> None:
    """Raise unless the authorised scope, expiry and notice delay are acceptable now."""
    validate_scope_within(case.case_id, case.opened_scope, body.scope)
    validate_case_scope(view, body.scope)
    if not ctx.time_ms < body.expires_ms <= ctx.time_ms + MAX_AUTHORIZATION_MS:
        raise InvalidBody("expiry must be after now and within 366 days")
    cap = get_max_notice_delay_ms(view)
    if not 0 <= body.notice_delay_ms <= cap:
        raise NoticeDelayOutOfRange(
            "notice delay exceeds the chain's cap",
            case_id=case.case_id,
            notice_delay_ms=body.notice_delay_ms,
            limit=cap,
        )


def process_authorize(
    view: KVView, ctx: BlockContext, signer: bytes, body: AuthorizeCase, fx: Effects
) -> None:
    """Authorise an open case (an independent court): scope, expiry, notice delay; its
    sealed holds now cover the authorised scope."""
    case = get_case(view, body.case_id)
    court = validate_independent_court(view, signer, case)
    validate_state(case, CaseState.OPEN)
    validate_authorization(view, ctx, case, body)
    after = msgspec.structs.replace(
        case,
        state=CaseState.AUTHORIZED,
        scope=body.scope,
        court=court.member_id,
        authorized_height=ctx.height,
        authorized_ms=ctx.time_ms,
        expires_ms=body.expires_ms,
        notice_delay_ms=body.notice_delay_ms,
        notice_due_ms=ctx.time_ms + body.notice_delay_ms,
    )
    case_holds.process_place_case_holds(view, ctx, after, body.scope, court.member_id)
    process_put_case(view, ctx, case, after)
    case_index.process_authorized(view, ctx, after)
    case_notice.process_schedule(view, after)
    fx.emit("case_authorized", case_id=str(case.case_id), vehicles=str(len(body.scope.vehicles)))


def process_reject(
    view: KVView, ctx: BlockContext, signer: bytes, body: RejectCase, fx: Effects
) -> None:
    """Refuse to authorise an open case (an independent court, with a reason code); lift
    the holds its opening placed."""
    case = get_case(view, body.case_id)
    court = validate_independent_court(view, signer, case)
    validate_state(case, CaseState.OPEN)
    validate_decline_reason(body.reason)
    after = msgspec.structs.replace(
        case,
        state=CaseState.REJECTED,
        court=court.member_id,
        reject_reason=body.reason,
        closed_height=ctx.height,
        closed_ms=ctx.time_ms,
    )
    case_holds.process_lift_case_holds(view, ctx, case)
    process_put_case(view, ctx, case, after)
    fx.emit("case_rejected", case_id=str(case.case_id))


# --- case.extend_notice / case.report / case.close ----------------------------------------


def process_extend_notice(
    view: KVView, ctx: BlockContext, signer: bytes, body: ExtendNotice, fx: Effects
) -> None:
    """Lengthen the notice delay (the authorising court, before the notice was given):
    a new total delay from authorisation, longer than the old, within the cap."""
    court = members.validate_active_member(view, signer, Role.COURT)
    case = get_case(view, body.case_id)
    get_authorized_scope(case)  # authorised (also if closed since: notice is still owed)
    if court.member_id != case.court:
        raise NotCaseParty("only the authorising court may extend", case_id=case.case_id)
    # Once the delay has run out the owners are owed the notice, whether or not the
    # end-of-block step has given it yet (a busy queue): no extension re-seals the case.
    if case.noticed or ctx.time_ms >= case.notice_due_ms:
        raise InvalidState("the case's notice is already due", status="notice_due")
    cap = get_max_notice_delay_ms(view)
    if not case.notice_delay_ms < body.notice_delay_ms <= cap:
        raise NoticeDelayOutOfRange(
            "an extension lengthens the delay, within the chain's cap",
            case_id=case.case_id,
            notice_delay_ms=body.notice_delay_ms,
            limit=cap,
        )
    after = msgspec.structs.replace(
        case,
        notice_delay_ms=body.notice_delay_ms,
        notice_due_ms=case.authorized_ms + body.notice_delay_ms,
        notice_extensions=case.notice_extensions + 1,
    )
    process_put_case(view, ctx, case, after)
    case_notice.process_unschedule(view, case)
    case_notice.process_schedule(view, after)
    fx.emit("notice_extended", case_id=str(case.case_id), extensions=str(after.notice_extensions))


def process_report(
    view: KVView, ctx: BlockContext, signer: bytes, body: ReportCase, fx: Effects
) -> None:
    """File the hash of the authority's final report on an authorised case (once)."""
    case = get_case(view, body.case_id)
    validate_authority(view, signer, case)
    validate_state(case, CaseState.AUTHORIZED)
    validate_digest(body.report_hash, "report hash")
    if case.report_hash:
        raise CaseAlreadyReported("the case's report was already filed", case_id=case.case_id)
    after = msgspec.structs.replace(case, report_hash=body.report_hash)
    process_put_case(view, ctx, case, after)
    fx.emit("case_reported", case_id=str(case.case_id))


def _validate_closer(view: KVView, signer: bytes, case: Case) -> None:
    member = members.validate_active_member(view, signer)
    is_authority = member.member_id == case.authority and Role.LAW_ENFORCEMENT in member.roles
    is_court = bool(case.court) and member.member_id == case.court and Role.COURT in member.roles
    if not (is_authority or is_court):
        raise NotCaseParty(
            "only the authority or the authorising court closes", case_id=case.case_id
        )


def process_close(
    view: KVView, ctx: BlockContext, signer: bytes, body: CloseCase, fx: Effects
) -> None:
    """End an open or authorised case (its authority or authorising court); lift its holds."""
    case = get_case(view, body.case_id)
    _validate_closer(view, signer, case)
    if case.state not in (CaseState.OPEN, CaseState.AUTHORIZED):
        raise CaseEnded("the case already ended", case_id=case.case_id, state=case.state.value)
    case_holds.process_lift_case_holds(view, ctx, case)
    after = msgspec.structs.replace(
        case, state=CaseState.CLOSED, closed_height=ctx.height, closed_ms=ctx.time_ms
    )
    process_put_case(view, ctx, case, after)
    fx.emit("case_closed", case_id=str(case.case_id))
