"""Who may read a vehicle's data at the gateway for a lawful-access case (``case_id``).

Read from the chain, never from the request: the case must be AUTHORIZED and not
expired at the latest block's time; the batch (or segment, or key envelope) must be
of a vehicle in the authorised scope, of an epoch of its window, overlap the
window in time, and be of a category in scope that the committee in force for its
epoch escrows (other keys have no shares: nothing of them can be decrypted). Then:

- the case's officer key reads listings, headers, segments, proofs and envelopes;
- a custodian of committee(epoch) (its active member key, its registered escrow
  key or the escrow key copied into its seat; the vehicle-OEM seat: the vehicle's
  OEM) reads listings and envelopes, which is what it needs to open its shares.

Everything else is refused with ``Unauthorized`` (``CaseNotAuthorized`` /
``CaseExpired`` for a case in the wrong state), as the other read paths are.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from carchain.core import cases, escrow_committee, members
from carchain.core.case_records import (
    VEHICLE_OEM_SEAT,
    Case,
    CaseScope,
    CaseState,
    Custodian,
    EscrowCommittee,
)
from carchain.core.state import KVView, ReadOnlyKVView
from carchain.core.vehicles import get_vehicle_optional
from carchain.errors import CaseExpired, CaseNotAuthorized, Unauthorized


@dataclass(frozen=True, slots=True)
class CaseItem:
    """What a read touches: a vehicle's epoch, a time range in it and categories."""

    vehicle_id: str
    epoch: int
    start_ms: int
    end_ms: int  # inclusive, as batch headers
    categories: tuple[str, ...]


@dataclass
class CaseReadCache:
    """Lookups one request repeats for many batches: committee(epoch), and whether the
    reader holds a seat of a committee version for an OEM's vehicles."""

    committees: dict[int, EscrowCommittee | None] = field(default_factory=dict)
    seats: dict[tuple[int, str], bool] = field(default_factory=dict)


DecisionKey = tuple[int, bytes, CaseItem, bool, bool]  # case, reader, item, custodian, window
MAX_DECISIONS = 8192


class CaseReadDecisions:
    """The case reads found allowed at one block height (a gateway's, shared by its
    requests): a read allowed at height h is allowed again at h without asking the node
    (the decision is a function of the state and block time at h); a new height drops
    them all, so a case closed, expired or a party suspended in a block is refused from
    that block on. Refusals are never kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._height = -1
        self._allowed: set[DecisionKey] = set()

    def is_allowed(self, height: int, key: DecisionKey) -> bool:
        """Return whether ``key`` was found allowed at ``height``."""
        with self._lock:
            return height == self._height and key in self._allowed

    def add_allowed(self, height: int, key: DecisionKey) -> None:
        """Record ``key`` allowed at ``height`` (forgetting another height's)."""
        with self._lock:
            if height != self._height or len(self._allowed) >= MAX_DECISIONS:
                self._height, self._allowed = height, set()
            self._allowed.add(key)


MAX_READS = 8192
ReadKey = tuple[str, bytes]  # store, key


class BlockReads:
    """The chain reads of case checks at one block height (a gateway's, shared by its
    requests): the case, the committee, the vehicle and the seats' member and escrow
    keys, read once per height instead of once per read request (each key envelope or
    segment a custodian or the officer asks is a request of its own). It is the
    ``CaseReadDecisions`` rule for the reads under a decision: a new height drops them
    all, so a block that closes, expires or suspends is seen from that block on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._height = -1
        self._values: dict[ReadKey, bytes | None] = {}

    def view_at(self, view: KVView, height: int) -> KVView:
        """Return ``view`` read through the reads kept for ``height``."""
        return _ReadsAt(self, view, height)

    def get(self, view: KVView, height: int, store: str, key: bytes) -> bytes | None:
        """Return ``store/key`` as kept for ``height``, else read from ``view`` (and kept
        unless a newer height was seen meanwhile)."""
        with self._lock:
            if height == self._height and (store, key) in self._values:
                return self._values[(store, key)]
        value = view.get(store, key)
        with self._lock:
            if height > self._height or len(self._values) >= MAX_READS:
                self._height, self._values = max(height, self._height), {}
            if height == self._height:
                self._values[(store, key)] = value
        return value


class _ReadsAt(ReadOnlyKVView):
    """A view whose reads go through a ``BlockReads`` at one height."""

    def __init__(self, reads: BlockReads, view: KVView, height: int) -> None:
        self.reads, self.view, self.height = reads, view, height

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the committed value under ``key`` in ``store`` (kept for the height)."""
        return self.reads.get(self.view, self.height, store, key)


def get_readable_case(view: KVView, case_id: int, now_ms: int) -> tuple[Case, CaseScope]:
    """Return the case and its authorised scope if it may be read for at ``now_ms``:
    ``CaseNotAuthorized`` unless AUTHORIZED (open, rejected, closed, unknown),
    ``CaseExpired`` once ``now_ms`` reaches its expiry, ``CaseNotAuthorized`` too once its
    authority or court is no longer an active member."""
    case = cases.get_case_optional(view, case_id)
    if case is None or case.state != CaseState.AUTHORIZED or case.scope is None:
        state = "unknown" if case is None else case.state.value
        raise CaseNotAuthorized("the case is not authorised", case_id=case_id, state=state)
    if now_ms >= case.expires_ms:
        raise CaseExpired("the case's authorisation expired", case_id=case_id)
    cases.validate_parties_active(view, case)
    return case, case.scope


def is_custodian_key(
    view: KVView, committee: EscrowCommittee, vehicle_oem: str, reader: bytes
) -> bool:
    """Return whether ``reader`` is a key of an active member holding a seat of
    ``committee`` for a vehicle of ``vehicle_oem``."""
    return any(_is_seat_key(view, c, vehicle_oem, reader) for c in committee.custodians)


def _is_seat_key(view: KVView, seat: Custodian, vehicle_oem: str, reader: bytes) -> bool:
    member_id = vehicle_oem if seat.member_id == VEHICLE_OEM_SEAT else seat.member_id
    member = members.get_member_optional(view, member_id)
    if member is None or not members.is_active_member(member):
        return False
    keys = {member.public_key, seat.escrow_key}
    escrow_key = escrow_committee.get_escrow_key_optional(view, member_id)
    if escrow_key is not None:
        keys.add(escrow_key)
    return reader in keys


def compute_case_categories(
    view: KVView, scope: CaseScope, item: CaseItem, cache: CaseReadCache | None = None
) -> tuple[EscrowCommittee | None, list[str]]:
    """Return committee(epoch) and the item's categories the case unlocks: none unless
    the vehicle, epoch and time range are in the scope."""
    first, last = cases.compute_scope_epochs(scope)
    in_window = item.start_ms < scope.data_until_ms and item.end_ms >= scope.data_from_ms
    if item.vehicle_id not in scope.vehicles or not first <= item.epoch <= last or not in_window:
        return None, []
    cache = cache or CaseReadCache()
    if item.epoch not in cache.committees:
        cache.committees[item.epoch] = escrow_committee.get_committee_for_epoch(view, item.epoch)
    committee = cache.committees[item.epoch]
    if committee is None:
        return None, []
    wanted = set(scope.categories) & set(committee.categories)
    return committee, [c for c in item.categories if c in wanted]


def is_case_reader(
    view: KVView,
    case: Case,
    scope: CaseScope,
    reader: bytes,
    item: CaseItem,
    custodian: bool,
    cache: CaseReadCache | None = None,
) -> bool:
    """Return whether ``reader`` may read ``item`` for the case: the officer, or (with
    ``custodian``) a custodian of committee(epoch), and only within scope."""
    cache = cache or CaseReadCache()
    committee, categories = compute_case_categories(view, scope, item, cache)
    if committee is None or not categories:
        return False
    if reader == case.officer_key:
        return True
    if not custodian:
        return False
    vehicle = get_vehicle_optional(view, item.vehicle_id)
    if vehicle is None:
        return False
    seat = (committee.version, vehicle.oem)
    if seat not in cache.seats:
        cache.seats[seat] = is_custodian_key(view, committee, vehicle.oem, reader)
    return cache.seats[seat]


def validate_case_reader(
    view: KVView,
    case_id: int,
    reader: bytes,
    item: CaseItem,
    now_ms: int,
    custodian: bool = False,
    within_window: bool = False,
) -> None:
    """Raise unless ``reader`` may read ``item`` for case ``case_id`` at ``now_ms``; with
    ``within_window`` (a segment read to be decrypted) only if the batch lies wholly in
    the case's half-open window: its epoch key opens every record of the batch, so the
    ciphertext of a batch straddling the window's edges is served to no one."""
    case, scope = get_readable_case(view, case_id, now_ms)
    if within_window and not (
        scope.data_from_ms <= item.start_ms <= item.end_ms < scope.data_until_ms
    ):
        raise Unauthorized("the batch reaches outside the case's data window")
    if not is_case_reader(view, case, scope, reader, item, custodian):
        raise Unauthorized("this key may not read that data for this case")


def validate_case_vehicle(
    view: KVView, case_id: int, reader: bytes, vehicle_id: str, now_ms: int
) -> tuple[Case, CaseScope]:
    """Return the case if ``reader`` may list ``vehicle_id``'s batches for it: the case is
    readable, the vehicle in its scope, and ``reader`` its officer or a custodian of a
    committee its epochs use. Checked before any batch is looked up; the rows are then
    filtered with ``is_case_reader``."""
    case, scope = get_readable_case(view, case_id, now_ms)
    if vehicle_id not in scope.vehicles:
        raise Unauthorized("the vehicle is not in the case's scope")
    if reader == case.officer_key:
        return case, scope
    vehicle = get_vehicle_optional(view, vehicle_id)
    committees = escrow_committee.get_committee_versions_for(
        view, *cases.compute_scope_epochs(scope)
    )
    if vehicle is None or not any(
        is_custodian_key(view, c, vehicle.oem, reader) for c in committees
    ):
        raise Unauthorized("this key may not read that data for this case")
    return case, scope
