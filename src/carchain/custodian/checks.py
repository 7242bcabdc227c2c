"""The custodian's own reading of the chain's rules: may it release, and which shares.

The chain refuses a release out of rule (``escrow.release``); the custodian does
not rely on that. Before it opens a single share it checks, on the case as
committed, everything the chain checks — authorised, not expired, within scope,
at quorum of the committee of each key's epoch counting only custodians active
now, its own seat in that committee, not released before — and adds its own
conditions: it releases only a case it approved itself (``case approve``), never
one it declined, and under ``--require-local-approval`` only once a human
approved it locally. A policy may add conditions; none here removes a chain rule.

Everything here is a pure function of records read by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from carchain.core.case_records import (
    DAY_MS,
    VEHICLE_OEM_SEAT,
    Case,
    CaseScope,
    CaseState,
    Custodian,
    EscrowCommittee,
)
from carchain.custodian.journal import DECLINED, ENDED, WATCHING


@dataclass(frozen=True, slots=True)
class WantedShare:
    """A share this custodian holds for a key in the case's scope, not released yet."""

    vehicle_id: str
    epoch: int
    category: str
    index: int
    committee_version: int


@dataclass(frozen=True, slots=True)
class ShareScan:
    """What a scan of the scope found: shares to release and why others were left."""

    wanted: list[WantedShare]
    seats: int  # keys in scope for which this custodian holds a seat
    below_quorum: int  # of those, keys whose committee has not reached quorum
    released: int  # of those, keys whose share is already released


def compute_scope_epochs(scope: CaseScope) -> range:
    """Return the epochs (UTC days) of the scope's half-open data window."""
    if scope.data_until_ms <= scope.data_from_ms:
        return range(0)
    return range(scope.data_from_ms // DAY_MS, (scope.data_until_ms - 1) // DAY_MS + 1)


def compute_case_verdict(case: Case, now_ms: int, member_id: str) -> tuple[str, str] | None:
    """Return ``(state, detail)`` when the case's record alone rules out a release now
    (never again: ``ENDED``/``DECLINED``; not yet: ``WATCHING``), ``None`` if it may go on."""
    if case.state in (CaseState.REJECTED, CaseState.CLOSED):
        return ENDED, f"case {case.state.value}"
    if case.state != CaseState.AUTHORIZED or case.scope is None:
        return WATCHING, "case not authorized"
    if now_ms >= case.expires_ms:
        return ENDED, "authorization expired"
    if any(v.member_id == member_id for v in case.declines):
        return DECLINED, "this custodian declined the case"
    if not any(v.member_id == member_id for v in case.approvals):
        return WATCHING, "not approved by this custodian (carchain case approve)"
    return None


def is_independent_court(case: Case, roles_of: Callable[[str], list[str]]) -> bool:
    """Return whether the case was authorised by a court that is not its authority and
    not law enforcement itself (the chain's rule at ``case.authorize``, checked again)."""
    roles = roles_of(case.court) if case.court else []
    return case.court != case.authority and "court" in roles and "law_enforcement" not in roles


def find_seat(committee: EscrowCommittee, member_id: str, vehicle_oem: str) -> Custodian | None:
    """Return the seat ``member_id`` holds in ``committee`` for a vehicle of ``vehicle_oem``
    (its own seat, or the vehicle-OEM seat when it is that vehicle's OEM), else ``None``."""
    for seat in committee.custodians:
        if seat.member_id == member_id:
            return seat
        if seat.member_id == VEHICLE_OEM_SEAT and member_id == vehicle_oem:
            return seat
    return None


def count_quorum(
    case: Case, committee: EscrowCommittee, vehicle_oem: str, is_active: Callable[[str], bool]
) -> int:
    """Return the approvals that count for a key of ``committee`` on a vehicle of
    ``vehicle_oem``: by members seated in it (that vehicle's OEM for the OEM seat), active now,
    each once, none who also declined, never the case's authority or authorising court
    (``is_active`` is false
    for law enforcement: the chain's ``cases.is_conflicted_custodian``)."""
    seated = {s.member_id for s in committee.custodians if s.member_id != VEHICLE_OEM_SEAT}
    if any(s.member_id == VEHICLE_OEM_SEAT for s in committee.custodians):
        seated.add(vehicle_oem)
    declined = {v.member_id for v in case.declines}
    voters = {v.member_id for v in case.approvals} - declined - {case.authority, case.court}
    return sum(1 for m in voters & seated if is_active(m))


@dataclass(frozen=True, slots=True)
class ChainFacts:
    """The chain reads a scan needs, as functions (the service passes chain readers,
    tests pass dictionaries)."""

    committee_for_epoch: Callable[[int], EscrowCommittee | None]
    oem_of: Callable[[str], str]
    is_active: Callable[[str], bool]
    is_released: Callable[[str, int, str, int], bool]


def scan_shares(case: Case, member_id: str, facts: ChainFacts) -> ShareScan:
    """Return the shares ``member_id`` may release for the authorised scope of ``case``:
    vehicle in scope, epoch in the window, category in scope and escrowed by
    committee(epoch), a seat of its own in that committee, that committee at quorum,
    share not released yet. The case must have passed ``compute_case_verdict``."""
    if case.scope is None:
        return ShareScan([], 0, 0, 0)
    wanted: list[WantedShare] = []
    seats = below = done = 0
    for vehicle_id, epoch, committee in iter_keyed_epochs(case.scope, facts):
        oem = facts.oem_of(vehicle_id)
        seat = find_seat(committee, member_id, oem)
        categories = [c for c in case.scope.categories if c in committee.categories]
        if seat is None or not categories:
            continue
        seats += len(categories)
        if count_quorum(case, committee, oem, facts.is_active) < committee.threshold:
            below += len(categories)
            continue
        for category in categories:
            if facts.is_released(vehicle_id, epoch, category, seat.index):
                done += 1
                continue
            wanted.append(WantedShare(vehicle_id, epoch, category, seat.index, committee.version))
    return ShareScan(wanted, seats, below, done)


def iter_keyed_epochs(
    scope: CaseScope, facts: ChainFacts
) -> Iterable[tuple[str, int, EscrowCommittee]]:
    """Yield ``(vehicle, epoch, committee)`` for every vehicle x epoch of the scope whose
    epoch has a committee."""
    committees = {e: facts.committee_for_epoch(e) for e in compute_scope_epochs(scope)}
    for vehicle_id in scope.vehicles:
        for epoch, committee in committees.items():
            if committee is not None:
                yield vehicle_id, epoch, committee


def is_share_in_scope(case: Case, share: WantedShare) -> bool:
    """Return whether a share is inside the case's authorised scope (the last check before
    a share is opened: vehicle, epoch and category all named)."""
    scope = case.scope
    return (
        scope is not None
        and share.vehicle_id in scope.vehicles
        and share.epoch in compute_scope_epochs(scope)
        and share.category in scope.categories
    )
