"""Custodians' votes on an authorised case: ``case.approve`` and ``case.decline``.

A voter holds a seat of a committee that the case's authorised epochs use (the
vehicle-OEM seat: as the active OEM of one of the scope's vehicles); each member
votes once per case, approve or decline (with a ``DeclineReason`` code), while the
case is authorised and unexpired. ``escrow_releases`` counts the approvals of the
members active at the time of a release.
"""

from __future__ import annotations

import msgspec

from carchain.core import members
from carchain.core.case_records import (
    VEHICLE_OEM_SEAT,
    ApproveCase,
    Case,
    CaseState,
    CaseVote,
    DeclineCase,
)
from carchain.core.cases import (
    compute_scope_epochs,
    get_authorized_scope,
    get_case,
    is_conflicted_custodian,
    process_put_case,
    validate_decline_reason,
    validate_parties_active,
    validate_state,
    validate_unexpired,
)
from carchain.core.effects import Effects
from carchain.core.escrow_committee import get_committee_versions_for
from carchain.core.members import Member, Role
from carchain.core.state import KVView
from carchain.core.types import BlockContext
from carchain.core.vehicles import get_vehicle
from carchain.errors import AlreadyVoted, NotCaseCustodian


def is_case_custodian(view: KVView, case: Case, member: Member) -> bool:
    """Return whether ``member`` holds a seat of a committee the case's authorised epochs
    use (the vehicle-OEM seat: as the active OEM of one of the scope's vehicles)."""
    scope = get_authorized_scope(case)
    committees = get_committee_versions_for(view, *compute_scope_epochs(scope))
    seats = {c.member_id for committee in committees for c in committee.custodians}
    if member.member_id in seats:
        return True
    if VEHICLE_OEM_SEAT not in seats or not members.is_active_member(member, Role.OEM):
        return False
    return any(get_vehicle(view, v).oem == member.member_id for v in scope.vehicles)


def _validate_vote(
    view: KVView, ctx: BlockContext, signer: bytes, case_id: int
) -> tuple[Case, Member]:
    member = members.validate_active_member(view, signer)
    case = get_case(view, case_id)
    validate_state(case, CaseState.AUTHORIZED)
    validate_unexpired(case, ctx)
    validate_parties_active(view, case)
    if is_conflicted_custodian(case, member) or not is_case_custodian(view, case, member):
        raise NotCaseCustodian("the signer holds no seat for this case's keys", case_id=case_id)
    voted = {v.member_id for v in (*case.approvals, *case.declines)}
    if member.member_id in voted:
        raise AlreadyVoted(
            "the custodian already voted on this case", case_id=case_id, member_id=member.member_id
        )
    return case, member


def process_approve(
    view: KVView, ctx: BlockContext, signer: bytes, body: ApproveCase, fx: Effects
) -> None:
    """Record a custodian's approval of an authorised, unexpired case."""
    case, member = _validate_vote(view, ctx, signer, body.case_id)
    vote = CaseVote(member.member_id, ctx.height, ctx.time_ms)
    after = msgspec.structs.replace(case, approvals=[*case.approvals, vote])
    process_put_case(view, ctx, case, after)
    fx.emit("case_approved", case_id=str(case.case_id), approvals=str(len(after.approvals)))


def process_decline(
    view: KVView, ctx: BlockContext, signer: bytes, body: DeclineCase, fx: Effects
) -> None:
    """Record a custodian's refusal (a reason code) of an authorised, unexpired case."""
    validate_decline_reason(body.reason)
    case, member = _validate_vote(view, ctx, signer, body.case_id)
    vote = CaseVote(member.member_id, ctx.height, ctx.time_ms, body.reason)
    after = msgspec.structs.replace(case, declines=[*case.declines, vote])
    process_put_case(view, ctx, case, after)
    fx.emit("case_declined", case_id=str(case.case_id), declines=str(len(after.declines)))
