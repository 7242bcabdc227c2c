"""Governance: proposals that change the membership, carried by member votes.

A proposal executes as soon as its yes votes reach the threshold, a fraction of
the active members at the time of the vote; it is rejected as soon as enough
members voted no that the threshold can no longer be reached; it expires after
``proposal_ttl`` blocks. The proposer's vote counts as yes.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from carchain.core import escrow_committee, liveness, members, v2x_ca, v2x_revocation
from carchain.core.effects import Effects
from carchain.core.escrow_committee import SetEscrowCommittee
from carchain.core.members import Member, MemberStatus
from carchain.core.state import KVView, WriteBuffer, compute_key, get_record_optional, put_record
from carchain.core.types import BlockContext, MemberId, ValidatorUpdate
from carchain.core.v2x_ca import RegisterPseudonymCa, RevokePseudonymCa
from carchain.core.v2x_revocation import SetLinkageAuthorities
from carchain.core.validation import validate_public_key
from carchain.errors import CarchainError, InvalidBody, InvalidState, NotFound

STORE = "governance"
MAX_TTL_BLOCKS = 1_000_000


class GovernanceParams(msgspec.Struct, frozen=True):
    """Threshold as a fraction of active members, and proposal lifetime in blocks."""

    threshold_numerator: int
    threshold_denominator: int
    proposal_ttl_blocks: int


# --- actions ------------------------------------------------------------------


class AddMember(msgspec.Struct, frozen=True, tag="add_member"):
    """Admit a new member."""

    member_id: str
    name: str
    roles: list[str]
    public_key: bytes
    validator_key: bytes = b""
    power: int = 0


class SuspendMember(msgspec.Struct, frozen=True, tag="suspend_member"):
    """Suspend a member: it can no longer sign or vote until reinstated."""

    member_id: str


class ReinstateMember(msgspec.Struct, frozen=True, tag="reinstate_member"):
    """Reinstate a suspended member."""

    member_id: str


class RemoveMember(msgspec.Struct, frozen=True, tag="remove_member"):
    """Remove a member for good (its record stays for the audit trail)."""

    member_id: str


class ChangeRoles(msgspec.Struct, frozen=True, tag="change_roles"):
    """Replace a member's roles."""

    member_id: str
    roles: list[str]


class RotateMemberKey(msgspec.Struct, frozen=True, tag="rotate_member_key"):
    """Replace a member's signing key."""

    member_id: str
    new_public_key: bytes


class SetValidator(msgspec.Struct, frozen=True, tag="set_validator"):
    """Set a member's validator key and voting power; power 0 removes it."""

    member_id: str
    validator_key: bytes
    power: int


Action = (
    AddMember
    | SuspendMember
    | ReinstateMember
    | RemoveMember
    | ChangeRoles
    | RotateMemberKey
    | SetValidator
    | SetEscrowCommittee
    | RegisterPseudonymCa
    | RevokePseudonymCa
    | SetLinkageAuthorities
)


# The actions that change one member (the escrow committee's and the V2X actions
# change none: they execute through their own modules).
MemberAction = (
    AddMember
    | SuspendMember
    | ReinstateMember
    | RemoveMember
    | ChangeRoles
    | RotateMemberKey
    | SetValidator
)


class ProposalStatus(StrEnum):
    """Lifecycle of a proposal."""

    OPEN = "open"
    EXECUTED = "executed"
    REJECTED = "rejected"
    FAILED = "failed"


class Proposal(msgspec.Struct, frozen=True):
    """A governance proposal as stored on chain."""

    proposal_id: int
    proposer: MemberId
    action: Action
    created_height: int
    expires_height: int
    yes: list[str]
    no: list[str]
    status: ProposalStatus
    outcome: str = ""


# --- transaction bodies --------------------------------------------------------


class Propose(msgspec.Struct, frozen=True):
    """Body of ``governance.propose``."""

    action: Action


class Vote(msgspec.Struct, frozen=True):
    """Body of ``governance.vote``."""

    proposal_id: int
    approve: bool


# --- reads -----------------------------------------------------------------


def get_params(view: KVView) -> GovernanceParams:
    """Return the governance parameters set at genesis."""
    p = get_record_optional(view, "params", b"governance", GovernanceParams)
    if p is None:
        raise InvalidState("chain has no governance parameters")
    return p


def compute_proposal_key(proposal_id: int) -> bytes:
    """Return the state key of a proposal."""
    return compute_key("p", proposal_id)


def get_proposal_optional(view: KVView, proposal_id: int) -> Proposal | None:
    """Return a proposal or ``None`` (also for an id no proposal can have)."""
    if not 0 < proposal_id < 2**63:
        return None
    return get_record_optional(view, STORE, compute_proposal_key(proposal_id), Proposal)


def get_proposal(view: KVView, proposal_id: int) -> Proposal:
    """Return a proposal or raise ``NotFound``."""
    p = get_proposal_optional(view, proposal_id)
    if p is None:
        raise NotFound("no such proposal", proposal_id=proposal_id)
    return p


def is_proposal_expired(proposal: Proposal, height: int) -> bool:
    """Return whether a vote in the block at ``height`` comes after the proposal's lifetime."""
    return height > proposal.expires_height


def compute_display_status(proposal: Proposal, next_height: int) -> str:
    """Return the proposal's status as readers see it before block ``next_height``.

    An open proposal past its lifetime can no longer be voted on: it reads ``expired``.
    """
    if proposal.status == ProposalStatus.OPEN and is_proposal_expired(proposal, next_height):
        return "expired"
    return proposal.status.value


def compute_required_votes(params: GovernanceParams, active: int) -> int:
    """Return the yes votes needed: ceil(active * numerator / denominator), at least 1."""
    need = -(-active * params.threshold_numerator // params.threshold_denominator)
    return max(1, need)


def validate_params(params: GovernanceParams) -> None:
    """Raise unless the threshold is a fraction in (0, 1] and the TTL is sane."""
    if params.threshold_denominator <= 0 or params.threshold_numerator <= 0:
        raise InvalidBody("threshold must be a positive fraction")
    if params.threshold_numerator > params.threshold_denominator:
        raise InvalidBody("threshold cannot exceed 1")
    if not 0 < params.proposal_ttl_blocks <= MAX_TTL_BLOCKS:
        raise InvalidBody("proposal ttl out of range")


# --- actions --------------------------------------------------------------------


def validate_action(view: KVView, action: Action) -> None:
    """Raise if the action cannot possibly execute in the current state."""
    if isinstance(action, RegisterPseudonymCa):
        v2x_ca.validate_register_ca(view, action)
    elif isinstance(action, RevokePseudonymCa):
        v2x_ca.validate_revoke_ca(view, action)
    elif isinstance(action, SetLinkageAuthorities):
        v2x_revocation.validate_set_linkage_authorities(view, action)
    elif isinstance(action, AddMember):
        members.validate_new_member(
            view, action.member_id, action.name, action.roles, action.public_key
        )
        members.validate_validator(action.validator_key, action.power)
    elif isinstance(action, ChangeRoles):
        members.validate_roles(action.roles)
        members.get_member(view, action.member_id)
        escrow_committee.validate_seated_roles(view, action.member_id, action.roles)
    elif isinstance(action, SetValidator):
        members.validate_validator(action.validator_key, action.power)
        members.get_member(view, action.member_id)
    elif isinstance(action, RotateMemberKey):
        validate_public_key(action.new_public_key, "new public key")
        members.get_member(view, action.member_id)
    elif isinstance(action, SetEscrowCommittee):
        escrow_committee.validate_set_committee(view, action)
    else:
        members.get_member(view, action.member_id)


def _validator_diff(before: Member | None, after: Member) -> list[ValidatorUpdate]:
    out: list[ValidatorUpdate] = []
    old_key = before.validator_key if before and before.power else b""
    new_key = after.validator_key if after.power else b""
    if old_key and old_key != new_key:
        out.append(ValidatorUpdate(old_key, 0))
    if new_key and (new_key != old_key or before is None or before.power != after.power):
        out.append(ValidatorUpdate(new_key, after.power))
    return out


def process_action(view: KVView, ctx: BlockContext, action: Action, fx: Effects) -> None:
    """Carry out an approved action; refuse one that would leave the chain without
    more than 2/3 of its voting power on validators that signed the last block."""
    if isinstance(action, SetEscrowCommittee):
        escrow_committee.process_set_committee(view, ctx, action, fx)
        return
    if isinstance(action, (RegisterPseudonymCa, RevokePseudonymCa, SetLinkageAuthorities)):
        _process_v2x_action(view, ctx, action, fx)
        return
    share = liveness.compute_power_share(view, ctx.signers) if ctx.signers else None
    before, after = _apply_action(view, ctx, action)
    if share is not None:
        liveness.validate_power_change(share, liveness.compute_power_share(view, ctx.signers))
    fx.validator_updates.extend(_validator_diff(before, after))
    fx.emit("member_changed", member_id=after.member_id, status=after.status.value)


def _process_v2x_action(
    view: KVView,
    ctx: BlockContext,
    action: RegisterPseudonymCa | RevokePseudonymCa | SetLinkageAuthorities,
    fx: Effects,
) -> None:
    if isinstance(action, RegisterPseudonymCa):
        ca = v2x_ca.process_register_ca(view, ctx, action)
        fx.emit("v2x_ca_registered", oem=ca.oem, hashed_id8=ca.hashed_id8.hex())
    elif isinstance(action, RevokePseudonymCa):
        ca = v2x_ca.process_revoke_ca(view, ctx, action)
        fx.emit("v2x_ca_revoked", oem=ca.oem, hashed_id8=ca.hashed_id8.hex())
    else:
        las = v2x_revocation.process_set_linkage_authorities(view, ctx, action)
        fx.emit("v2x_linkage_authorities_set", la1=las.la1, la2=las.la2)


def _apply_action(
    view: KVView, ctx: BlockContext, action: MemberAction
) -> tuple[Member | None, Member]:
    before: Member | None = None
    if isinstance(action, AddMember):
        after = members.process_add_member(
            view,
            ctx.height,
            action.member_id,
            action.name,
            action.roles,
            action.public_key,
            action.validator_key,
            action.power,
        )
    else:
        before = members.get_member(view, action.member_id)
        if isinstance(action, SuspendMember):
            after = members.process_set_status(view, action.member_id, MemberStatus.SUSPENDED)
        elif isinstance(action, ReinstateMember):
            if before.status != MemberStatus.SUSPENDED:
                raise InvalidState("only a suspended member can be reinstated")
            after = members.process_set_status(view, action.member_id, MemberStatus.ACTIVE)
        elif isinstance(action, RemoveMember):
            after = members.process_set_status(view, action.member_id, MemberStatus.REMOVED)
        elif isinstance(action, ChangeRoles):
            escrow_committee.validate_seated_roles(view, action.member_id, action.roles)
            after = members.process_change_roles(view, action.member_id, action.roles)
        elif isinstance(action, RotateMemberKey):
            after = members.process_rotate_member_key(view, action.member_id, action.new_public_key)
        else:
            after = members.process_set_validator(
                view, action.member_id, action.validator_key, action.power
            )
    return before, after


# --- transitions ---------------------------------------------------------------------


def process_propose(
    view: KVView, ctx: BlockContext, signer: bytes, body: Propose, fx: Effects
) -> None:
    """Record a proposal with the proposer's yes vote; execute it if that suffices."""
    proposer = members.validate_active_member(view, signer)
    validate_action(view, body.action)
    if isinstance(body.action, RegisterPseudonymCa):
        v2x_ca.validate_ca_proposer(proposer, body.action)
    params = get_params(view)
    raw_seq = view.get(STORE, b"seq")
    proposal_id = (0 if raw_seq is None else int.from_bytes(raw_seq, "big")) + 1
    view.set(STORE, b"seq", proposal_id.to_bytes(8, "big"))
    proposal = Proposal(
        proposal_id=proposal_id,
        proposer=proposer.member_id,
        action=body.action,
        created_height=ctx.height,
        expires_height=ctx.height + params.proposal_ttl_blocks,
        yes=[proposer.member_id],
        no=[],
        status=ProposalStatus.OPEN,
    )
    fx.emit(
        "proposal_created",
        proposal_id=str(proposal_id),
        proposer=proposer.member_id,
        action=str(type(body.action).__struct_config__.tag),
    )
    _tally(view, ctx, proposal, params, fx)


def process_vote(view: KVView, ctx: BlockContext, signer: bytes, body: Vote, fx: Effects) -> None:
    """Record a member's vote on an open proposal; execute or reject when decided."""
    voter = members.validate_active_member(view, signer)
    proposal = get_proposal(view, body.proposal_id)
    if proposal.status != ProposalStatus.OPEN:
        raise InvalidState("proposal is closed", status=proposal.status)
    if is_proposal_expired(proposal, ctx.height):
        raise InvalidState("proposal has expired", expires_height=proposal.expires_height)
    if voter.member_id in proposal.yes or voter.member_id in proposal.no:
        raise InvalidState("member already voted", member_id=voter.member_id)
    if body.approve:
        proposal = msgspec.structs.replace(proposal, yes=[*proposal.yes, voter.member_id])
    else:
        proposal = msgspec.structs.replace(proposal, no=[*proposal.no, voter.member_id])
    fx.emit(
        "vote_cast",
        proposal_id=str(proposal.proposal_id),
        voter=voter.member_id,
        approve=str(body.approve).lower(),
    )
    _tally(view, ctx, proposal, get_params(view), fx)


def _tally(
    view: KVView, ctx: BlockContext, proposal: Proposal, params: GovernanceParams, fx: Effects
) -> None:
    active = members.get_active_member_count(view)
    need = compute_required_votes(params, active)
    # Only the votes of members active now count, on both sides: the threshold
    # follows the active members, so a suspended or removed member's earlier
    # vote must not decide (and its suspension must not lower the bar for it).
    yes = _count_active(view, proposal.yes)
    no = _count_active(view, proposal.no)
    if yes >= need:
        try:
            scope_fx = Effects()
            scope = WriteBuffer(view)
            process_action(scope, ctx, proposal.action, scope_fx)
            scope.flush()
            fx.events.extend(scope_fx.events)
            fx.validator_updates.extend(scope_fx.validator_updates)
            proposal = msgspec.structs.replace(proposal, status=ProposalStatus.EXECUTED)
        except CarchainError as exc:
            proposal = msgspec.structs.replace(
                proposal, status=ProposalStatus.FAILED, outcome=f"{exc.code}: {exc.message}"
            )
        fx.emit(
            "proposal_closed", proposal_id=str(proposal.proposal_id), status=proposal.status.value
        )
    elif no > active - need:
        proposal = msgspec.structs.replace(proposal, status=ProposalStatus.REJECTED)
        fx.emit(
            "proposal_closed", proposal_id=str(proposal.proposal_id), status=proposal.status.value
        )
    put_record(view, STORE, compute_proposal_key(proposal.proposal_id), proposal)


def _count_active(view: KVView, voters: list[str]) -> int:
    return sum(1 for m in voters if members.is_active_member(members.get_member(view, m)))
