"""The custodian's half of an erasure: crypto-shred the scope's key envelopes, post the tombstone.

A category key is per vehicle x epoch (UTC day) x category, so erasing a window
destroys the envelopes of every epoch the window touches, whole days (a key
cannot be destroyed for part of its day). The key refs come from the headers of
the vehicle's batches in the journal. A legal hold in force over any part of
those days blocks the erasure: nothing is destroyed, the task waits and is tried
again each round until the hold is lifted. The erased days (clipped to the erasing
owner's period: on a day of sale the other owner's key is not its to destroy)
are recorded in the journal first: from then on the gateway accepts no upload
of them in those categories (``Ingestor.shred_window``), so the car cannot bring
an erased key back.

The tombstone blob (``tombstones`` namespace) lists ALL destroyed key refs; its
SHA-256 is the ``tombstone_hash`` on chain. ``erasure.complete`` carries at most
``MAX_DESTROYED`` refs: the first ones, sorted; the tombstone holds the rest.
Release packages sealed before the erasure stay: their requesters already hold
those segment keys (the access log says who).
"""

from __future__ import annotations

from dataclasses import dataclass

from carchain.core import owners
from carchain.core.erasure import (
    MAX_DESTROYED,
    CompleteErasure,
    Erasure,
    ErasureStatus,
    get_erasure,
)
from carchain.core.holds import get_covering_holds
from carchain.core.vehicles import get_first_owner_period, get_vehicle
from carchain.data.tombstone import (
    compute_scope_days,
    compute_tombstone,
)
from carchain.errors import ErasureNotOpen, LegalHoldActive, NotFound
from carchain.gateway.custody_journal import ERASED, WAITING
from carchain.gateway.ingest import MAX_TIME_MS, Ingestor
from carchain.gateway.journal import Journal
from carchain.sdk.account import Account
from carchain.sdk.chainview import ChainView
from carchain.storage.blobstore import BlobStore


@dataclass
class ErasureContext:
    """What the erasure step works with."""

    view: ChainView
    account: Account
    journal: Journal
    ingestor: Ingestor
    tombstones: BlobStore


def get_erasing_period(view: ChainView, erasure: Erasure) -> tuple[int, int]:
    """Return ``(first ms, last ms)`` of the ownership period of the erasing owner that
    holds the window (the first period also holds the time before the registration)."""
    vehicle = get_vehicle(view, erasure.vehicle_id)
    if vehicle.transfer_seq == 0:
        return 0, MAX_TIME_MS
    if erasure.data_from_ms >= vehicle.owner_since_ms:
        return vehicle.owner_since_ms, MAX_TIME_MS
    period = owners.get_past_period_of(view, vehicle, erasure.data_from_ms)
    if period is None:
        raise NotFound("the erasure's ownership period is missing", vehicle_id=vehicle.vehicle_id)
    first = get_first_owner_period(view, vehicle)
    return (0 if period == first else period.since_ms), period.until_ms - 1


def compute_shred_window(view: ChainView, erasure: Erasure) -> tuple[int, int]:
    """Return ``(first ms, last ms)`` to shred: the whole days the window touches, clipped
    to the erasing owner's period (on a day of sale the other owner's day key is not its
    to destroy, nor its uploads to refuse)."""
    start, end = compute_scope_days(erasure)
    lo, hi = get_erasing_period(view, erasure)
    return max(start, lo), min(end, hi)


def is_held(view: ChainView, erasure: Erasure) -> bool:
    """Return whether a legal hold in force covers any part of the days to be shredded."""
    start, end = compute_scope_days(erasure)
    return bool(get_covering_holds(view, erasure.vehicle_id, erasure.categories, start, end))


def process_erasure_task(ctx: ErasureContext, vehicle_id: str, erasure_seq: int) -> tuple[str, str]:
    """Shred an erasure request's scope and post ``erasure.complete``; return
    ``(state, detail)``. Under a legal hold nothing is destroyed: ``WAITING``."""
    erasure = get_erasure(ctx.view, vehicle_id, erasure_seq)
    if erasure.status == ErasureStatus.COMPLETE:
        return ERASED, "complete on chain"
    if erasure.status == ErasureStatus.HELD or is_held(ctx.view, erasure):
        return WAITING, "legal_hold_active"
    start, end = compute_shred_window(ctx.view, erasure)
    epochs, refs = ctx.ingestor.shred_window(vehicle_id, list(erasure.categories), start, end)
    tombstone_hash = ctx.tombstones.put(compute_tombstone(erasure, epochs, refs))
    body = CompleteErasure(vehicle_id, erasure_seq, refs[:MAX_DESTROYED], tombstone_hash)
    try:
        ctx.account.send(body)
    except LegalHoldActive:
        return WAITING, "legal_hold_active"
    except ErasureNotOpen:
        return ERASED, "complete on chain"
    return ERASED, f"{len(refs)} key envelopes destroyed"
