"""Linkage-based revocation: a misbehaviour authority decides, both linkage authorities
release their seeds, and only then is the vehicle revoked.

Governance names the two linkage authorities (``SetLinkageAuthorities``: two distinct
members holding the ``linkage_authority`` role, with distinct 16-bit LA ids). A
member with the ``misbehaviour_authority`` role opens a revocation decision for a
linkage value seen in period i (``v2x.revoke``, or ``v2x.review`` with the verdict
``revoke``). Each LA then posts its linkage seed ls(i) for that decision
(``v2x.release_seed``). When the second seed arrives the chain recomputes
``lv(i, j) = plv1(i, j) XOR plv2(i, j)`` for j < ``MAX_J`` and requires the decision's
linkage value among them, so a wrong or unrelated seed cannot revoke anyone; then the
decision is ``revoked`` and receivers derive the linkage values of periods i, i+1, ...

No single party can revoke: the MA cannot without both seeds, an LA cannot open a
decision, and one seed alone links nothing (each lv needs both PLVs). Seeds are of
period i, and i is at most one period before the block's, so a revocation reveals
nothing of the vehicle's earlier periods (the seed chain runs forward only).
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from carchain.core import members, v2x_ca
from carchain.core.effects import Effects
from carchain.core.members import Member, Role
from carchain.core.state import KVView, compute_key, get_record_optional, put_record
from carchain.core.types import BlockContext, MemberId
from carchain.crypto.linkage import LINKAGE_VALUE_BYTES, SEED_BYTES, compute_linkage_values
from carchain.errors import (
    AlreadyRevokedLinkage,
    InvalidV2xBody,
    LinkageAuthoritiesNotSet,
    NotFound,
    RevocationNotPending,
    SeedAlreadyReleased,
    SeedMismatch,
    Unauthorized,
)

STORE = "v2x"
PERIOD_S = 7 * 86400  # one linkage period: a week, the pseudonym batch unit
PERIOD_EPOCH_S = 1_072_915_200  # 2004-01-01T00:00:00Z, the IEEE 1609.2 epoch
MAX_J = 64  # certificates per vehicle per period whose values a seed release is checked against
MAX_PERIODS_BACK = 1  # a decision may name the current or the previous period
MAX_PERIOD = 0xFFFF  # IValue is a Uint16
REVOCATION_KEY_PREFIX = b"rv/"
_LA_KEY = b"la"
_SEQ_KEY = b"rvseq"


class LinkageAuthorities(msgspec.Struct, frozen=True):
    """The two linkage authorities the chain accepts seeds from."""

    la1: MemberId
    la1_id: int
    la2: MemberId
    la2_id: int
    set_height: int


class SetLinkageAuthorities(msgspec.Struct, frozen=True, tag="set_linkage_authorities"):
    """Governance action: name the two linkage authorities and their 16-bit ids."""

    la1: str
    la1_id: int
    la2: str
    la2_id: int


class RevocationStatus(StrEnum):
    """Lifecycle of a revocation decision."""

    AWAITING_SEEDS = "awaiting_seeds"
    REVOKED = "revoked"


class SeedRelease(msgspec.Struct, frozen=True):
    """One LA's seed ls(i) for a decision."""

    member_id: MemberId
    la_id: int
    seed: bytes
    height: int


class Revocation(msgspec.Struct, frozen=True):
    """A revocation decision and its seed releases (``v2x`` store, key ``rv/<seq>``)."""

    decision_seq: int
    ca_hashed_id8: bytes
    linkage_value: bytes
    i_period: int
    report_seq: int
    decided_by: MemberId
    decided_height: int
    status: RevocationStatus
    la1_id: int
    la2_id: int
    releases: list[SeedRelease]
    revoked_height: int = 0


class Revoke(msgspec.Struct, frozen=True):
    """Body of ``v2x.revoke``: a misbehaviour authority's decision (``report_seq`` 0: none)."""

    ca_hashed_id8: bytes
    linkage_value: bytes
    i_period: int
    report_seq: int = 0


class ReleaseSeed(msgspec.Struct, frozen=True):
    """Body of ``v2x.release_seed``: a linkage authority's seed ls(i) for a decision."""

    decision_seq: int
    seed: bytes


# --- periods and reads ----------------------------------------------------------


def compute_period(time_s: int) -> int:
    """Return the linkage period index i of a Unix time (weeks since the 1609.2 epoch)."""
    return max(0, (time_s - PERIOD_EPOCH_S) // PERIOD_S)


def compute_period_start_s(i_period: int) -> int:
    """Return the Unix time at which period ``i_period`` begins."""
    return PERIOD_EPOCH_S + i_period * PERIOD_S


def compute_revocation_key(decision_seq: int) -> bytes:
    """Return the state key of a revocation decision."""
    return compute_key("rv", decision_seq)


def _compute_linkage_index_key(i_period: int, linkage_value: bytes) -> bytes:
    return compute_key("rvl", i_period, linkage_value)


def get_linkage_authorities_optional(view: KVView) -> LinkageAuthorities | None:
    """Return the two linkage authorities, or ``None`` before governance names them."""
    return get_record_optional(view, STORE, _LA_KEY, LinkageAuthorities)


def get_linkage_authorities(view: KVView) -> LinkageAuthorities:
    """Return the two linkage authorities or raise ``LinkageAuthoritiesNotSet``."""
    las = get_linkage_authorities_optional(view)
    if las is None:
        raise LinkageAuthoritiesNotSet("governance has not named the linkage authorities")
    return las


def get_revocation_optional(view: KVView, decision_seq: int) -> Revocation | None:
    """Return a revocation decision or ``None``."""
    if not 0 < decision_seq < 2**63:
        return None
    return get_record_optional(view, STORE, compute_revocation_key(decision_seq), Revocation)


def get_revocation(view: KVView, decision_seq: int) -> Revocation:
    """Return a revocation decision or raise ``NotFound``."""
    rv = get_revocation_optional(view, decision_seq)
    if rv is None:
        raise NotFound("no such revocation decision", seq=decision_seq)
    return rv


def get_revocation_count(view: KVView) -> int:
    """Return how many revocation decisions were ever opened."""
    raw = view.get(STORE, _SEQ_KEY)
    return 0 if raw is None else int.from_bytes(raw, "big")


# --- governance: the linkage authorities -------------------------------------------


def validate_set_linkage_authorities(view: KVView, action: SetLinkageAuthorities) -> None:
    """Raise unless both members are active linkage authorities with distinct 16-bit ids."""
    if action.la1 == action.la2:
        raise InvalidV2xBody("the two linkage authorities must be distinct members", field="la2")
    for la_id in (action.la1_id, action.la2_id):
        if not 0 <= la_id <= 0xFFFF:
            raise InvalidV2xBody("an LA id is 16 bits", field="la_id")
    if action.la1_id == action.la2_id:
        raise InvalidV2xBody("the two LA ids must differ", field="la2_id")
    for member_id in (action.la1, action.la2):
        m = members.get_member_optional(view, member_id) if member_id else None
        if m is None or not members.is_active_member(m, Role.LINKAGE_AUTHORITY):
            raise Unauthorized("not an active linkage authority", member_id=member_id[:64])


def process_set_linkage_authorities(
    view: KVView, ctx: BlockContext, action: SetLinkageAuthorities
) -> LinkageAuthorities:
    """Store the approved pair of linkage authorities; return it."""
    validate_set_linkage_authorities(view, action)
    las = LinkageAuthorities(
        MemberId(action.la1), action.la1_id, MemberId(action.la2), action.la2_id, ctx.height
    )
    put_record(view, STORE, _LA_KEY, las)
    return las


# --- decisions --------------------------------------------------------------------------


def validate_decision_fields(ctx: BlockContext, body: Revoke) -> None:
    """Raise unless the linkage value and the period are acceptable at this block."""
    if len(body.linkage_value) != LINKAGE_VALUE_BYTES:
        raise InvalidV2xBody("a linkage value is 9 bytes", field="linkage_value")
    current = compute_period(ctx.time_ms // 1000)
    if not current - MAX_PERIODS_BACK <= body.i_period <= min(current, MAX_PERIOD):
        raise InvalidV2xBody(
            "a revocation starts in the current or the previous period", field="i_period"
        )


def process_decision(
    view: KVView, ctx: BlockContext, authority: Member, body: Revoke, fx: Effects
) -> Revocation:
    """Open a revocation decision that waits for both LAs' seeds; return it."""
    validate_decision_fields(ctx, body)
    las = get_linkage_authorities(view)
    v2x_ca.get_ca(view, body.ca_hashed_id8)
    index_key = _compute_linkage_index_key(body.i_period, body.linkage_value)
    existing = view.get(STORE, index_key)
    if existing is not None:
        raise AlreadyRevokedLinkage(
            "this linkage value already has a decision",
            decision_seq=int.from_bytes(existing, "big"),
        )
    seq = get_revocation_count(view) + 1
    view.set(STORE, _SEQ_KEY, seq.to_bytes(8, "big"))
    view.set(STORE, index_key, seq.to_bytes(8, "big"))
    rv = Revocation(
        decision_seq=seq,
        ca_hashed_id8=body.ca_hashed_id8,
        linkage_value=body.linkage_value,
        i_period=body.i_period,
        report_seq=body.report_seq,
        decided_by=authority.member_id,
        decided_height=ctx.height,
        status=RevocationStatus.AWAITING_SEEDS,
        la1_id=las.la1_id,
        la2_id=las.la2_id,
        releases=[],
    )
    put_record(view, STORE, compute_revocation_key(seq), rv)
    fx.emit("v2x_revocation_decided", decision_seq=str(seq), i_period=str(body.i_period))
    return rv


def process_revoke(
    view: KVView, ctx: BlockContext, signer: bytes, body: Revoke, fx: Effects
) -> None:
    """``v2x.revoke``: a misbehaviour authority opens a revocation decision."""
    authority = members.validate_active_member(view, signer, Role.MISBEHAVIOUR_AUTHORITY)
    if body.report_seq != 0:
        raise InvalidV2xBody("a decision for a report is made by v2x.review", field="report_seq")
    process_decision(view, ctx, authority, body, fx)


# --- seed releases ------------------------------------------------------------------------


def _get_la_id_of(las: LinkageAuthorities, member: Member) -> int:
    if member.member_id == las.la1:
        return las.la1_id
    if member.member_id == las.la2:
        return las.la2_id
    raise Unauthorized(
        "signer is not one of the two linkage authorities", member_id=member.member_id
    )


def is_seed_pair_matching(rv: Revocation, seed1: bytes, seed2: bytes) -> bool:
    """Return whether lv(i, j) of the two seeds equals the decision's value for some j < MAX_J."""
    values = compute_linkage_values(rv.la1_id, seed1, rv.la2_id, seed2, MAX_J)
    return rv.linkage_value in values


def process_release_seed(
    view: KVView, ctx: BlockContext, signer: bytes, body: ReleaseSeed, fx: Effects
) -> None:
    """``v2x.release_seed``: record an LA's seed; with both seeds checked, revoke."""
    member = members.validate_active_member(view, signer, Role.LINKAGE_AUTHORITY)
    la_id = _get_la_id_of(get_linkage_authorities(view), member)
    if len(body.seed) != SEED_BYTES:
        raise InvalidV2xBody("a linkage seed is 16 bytes", field="seed")
    rv = get_revocation(view, body.decision_seq)
    if rv.status != RevocationStatus.AWAITING_SEEDS:
        raise RevocationNotPending(
            "decision is not waiting for seeds",
            decision_seq=rv.decision_seq,
            status=rv.status.value,
        )
    if la_id not in (rv.la1_id, rv.la2_id):
        raise Unauthorized(
            "the decision waits for other linkage authorities", member_id=member.member_id
        )
    # While the decision waits an LA may correct its own seed (the pair did not match):
    # otherwise one wrong first release would block the revocation for good.
    if any(r.la_id == la_id and r.seed == body.seed for r in rv.releases):
        raise SeedAlreadyReleased(
            "this LA already released this seed", decision_seq=rv.decision_seq, la_id=la_id
        )
    others = [r for r in rv.releases if r.la_id != la_id]
    releases = [*others, SeedRelease(member.member_id, la_id, body.seed, ctx.height)]
    rv = msgspec.structs.replace(rv, releases=releases)
    fx.emit("v2x_seed_released", decision_seq=str(rv.decision_seq), la_id=str(la_id))
    if len(releases) == 2:
        rv = _process_completion(rv, ctx, fx)
    put_record(view, STORE, compute_revocation_key(rv.decision_seq), rv)


def _process_completion(rv: Revocation, ctx: BlockContext, fx: Effects) -> Revocation:
    seeds = {r.la_id: r.seed for r in rv.releases}
    if not is_seed_pair_matching(rv, seeds[rv.la1_id], seeds[rv.la2_id]):
        raise SeedMismatch(
            "the released seeds do not give the decision's linkage value",
            decision_seq=rv.decision_seq, i_period=rv.i_period,
        )  # fmt: skip
    fx.emit("v2x_revoked", decision_seq=str(rv.decision_seq), i_period=str(rv.i_period))
    return msgspec.structs.replace(rv, status=RevocationStatus.REVOKED, revoked_height=ctx.height)


def get_seed_pair(rv: Revocation) -> tuple[bytes, bytes] | None:
    """Return (ls1(i), ls2(i)) of a completed revocation, or ``None`` while it waits."""
    if rv.status != RevocationStatus.REVOKED:
        return None
    seeds = {r.la_id: r.seed for r in rv.releases}
    return seeds[rv.la1_id], seeds[rv.la2_id]
