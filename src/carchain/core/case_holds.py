"""The sealed legal holds of a lawful-access case: an open case holds its scope.

``case.open`` places one hold per vehicle of the opened scope (the data is preserved
while a court decides); ``case.authorize`` replaces them by one per vehicle of the
authorised scope (a narrowed scope frees what it dropped); ``case.reject`` and
``case.close`` lift them. Holds are inclusive: the case's half-open window ends at
``data_until_ms - 1``. A case hold
appends nothing to the vehicle's log and holds pending erasure requests without
an ``erasure_held`` event: before the case's notice is due the owner's log shows
nothing of it (``case_notice`` tells later). ``ch/<case_id>/<vehicle>`` keeps the
seq of the hold placed for that vehicle.
"""

from __future__ import annotations

from carchain.core import erasure, holds
from carchain.core.case_records import STORE, Case, CaseScope
from carchain.core.state import KVView, compute_key
from carchain.core.types import BlockContext


def compute_case_hold_key(case_id: int, vehicle_id: str) -> bytes:
    """Return the state key of the hold seq a case placed on a vehicle."""
    return compute_key("ch", case_id, vehicle_id)


def get_case_hold_seq_optional(view: KVView, case_id: int, vehicle_id: str) -> int | None:
    """Return the seq of the hold the case placed on the vehicle, or ``None``."""
    raw = view.get(STORE, compute_case_hold_key(case_id, vehicle_id))
    return None if raw is None else int.from_bytes(raw, "big")


def process_place_case_holds(
    view: KVView, ctx: BlockContext, case: Case, scope: CaseScope, placed_by: str
) -> None:
    """Place the case's sealed hold on each vehicle of ``scope`` and hold the pending
    erasure requests they cover (no log event); then lift the holds the case placed
    before (at its opening), so an erasure outside a narrowed scope reopens and one
    inside it stays held throughout."""
    before = _get_case_holds(view, case, case.opened_scope)
    window = (list(scope.categories), scope.data_from_ms, scope.data_until_ms - 1)
    for vehicle_id in scope.vehicles:
        hold = holds.process_place_case_hold(
            view, ctx, vehicle_id, placed_by, window, case.case_ref, case.case_id
        )
        view.set(
            STORE, compute_case_hold_key(case.case_id, vehicle_id), hold.seq.to_bytes(8, "big")
        )
        erasure.process_hold_erasures(view, ctx, hold, None)
    for hold in before:
        _lift(view, ctx, case, hold)


def process_lift_case_holds(view: KVView, ctx: BlockContext, case: Case) -> None:
    """Lift the case's holds still in force (of its authorised scope, or of the opened
    one if it was never authorised); reopen the erasures no other hold covers. A noticed
    case's lift is logged (``hold_lifted``); a sealed one's is not."""
    for hold in _get_case_holds(view, case, case.scope or case.opened_scope):
        _lift(view, ctx, case, hold)


def _get_case_holds(view: KVView, case: Case, scope: CaseScope) -> list[holds.LegalHold]:
    found = []
    for vehicle_id in scope.vehicles:
        seq = get_case_hold_seq_optional(view, case.case_id, vehicle_id)
        if seq is None:
            continue
        hold = holds.get_hold(view, vehicle_id, seq)
        if hold.status == holds.HoldStatus.IN_FORCE:
            found.append(hold)
    return found


def _lift(view: KVView, ctx: BlockContext, case: Case, hold: holds.LegalHold) -> None:
    lifted = holds.process_lift_hold_record(view, ctx, hold)
    if case.noticed:  # no longer sealed: the owner learns the hold is gone
        holds.process_log_lifted(view, ctx, lifted)
    erasure.process_release_erasures(view, ctx, lifted)
