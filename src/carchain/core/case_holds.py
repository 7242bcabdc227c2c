"""The sealed legal holds of a lawful-access case: placed at authorisation, lifted at close.

One hold per scope vehicle over the authorised categories and window (holds are
inclusive: the case's half-open window ends at ``data_until_ms - 1``). A case hold
appends nothing to the vehicle's log and holds pending erasure requests without
an ``erasure_held`` event: before the case's notice is due the owner's log shows
nothing of it (``case_notice`` tells later). ``ch/<case_id>/<vehicle>`` keeps the
seq of the hold placed for that vehicle.
"""

from __future__ import annotations

from carchain.core import erasure, holds
from carchain.core.case_records import STORE, Case
from carchain.core.state import KVView, compute_key
from carchain.core.types import BlockContext
from carchain.errors import InvalidState


def compute_case_hold_key(case_id: int, vehicle_id: str) -> bytes:
    """Return the state key of the hold seq a case placed on a vehicle."""
    return compute_key("ch", case_id, vehicle_id)


def get_case_hold_seq_optional(view: KVView, case_id: int, vehicle_id: str) -> int | None:
    """Return the seq of the hold the case placed on the vehicle, or ``None``."""
    raw = view.get(STORE, compute_case_hold_key(case_id, vehicle_id))
    return None if raw is None else int.from_bytes(raw, "big")


def process_place_case_holds(view: KVView, ctx: BlockContext, case: Case) -> None:
    """Place the authorised case's sealed hold on each scope vehicle and hold the
    pending erasure requests they cover (no log event)."""
    if case.scope is None:
        raise InvalidState("the case has no authorised scope")
    scope = case.scope
    window = (list(scope.categories), scope.data_from_ms, scope.data_until_ms - 1)
    for vehicle_id in scope.vehicles:
        hold = holds.process_place_case_hold(
            view, ctx, vehicle_id, case.court, window, case.case_ref, case.case_id
        )
        view.set(
            STORE, compute_case_hold_key(case.case_id, vehicle_id), hold.seq.to_bytes(8, "big")
        )
        erasure.process_hold_erasures(view, ctx, hold, None)


def process_lift_case_holds(view: KVView, ctx: BlockContext, case: Case) -> None:
    """Lift the case's holds still in force; reopen the erasures no other hold covers.
    A noticed case's lift is logged (``hold_lifted``); a sealed one's is not."""
    if case.scope is None:
        return
    for vehicle_id in case.scope.vehicles:
        seq = get_case_hold_seq_optional(view, case.case_id, vehicle_id)
        if seq is None:
            continue
        hold = holds.get_hold(view, vehicle_id, seq)
        if hold.status != holds.HoldStatus.IN_FORCE:
            continue
        lifted = holds.process_lift_hold_record(view, ctx, hold)
        if case.noticed:  # no longer sealed: the owner learns the hold is gone
            holds.process_log_lifted(view, ctx, lifted)
        erasure.process_release_erasures(view, ctx, lifted)
