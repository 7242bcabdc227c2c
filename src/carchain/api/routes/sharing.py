"""Consent, access and erasure records: what the owner granted, who asked, what was
released and received, what was erased and what a court holds.

Transactions go through ``POST /txs``; these routes read the records the chain
keeps for them (the access log, ``/vehicles/{id}/access-log``, proves every step).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from carchain.api.deps import get_backend
from carchain.api.encoding import to_object_json
from carchain.api.record_models import compute_record_model
from carchain.api.schemas import compute_error_responses
from carchain.api.view import BackendView
from carchain.core import (
    access,
    access_releases,
    cases,
    consents,
    erasure,
    holds,
    members,
    vehicles,
)
from carchain.core.access import AccessRequest
from carchain.core.access_log import compute_page_seqs
from carchain.core.access_releases import AccessReceipt, AccessRelease
from carchain.core.consents import Grant
from carchain.core.erasure import Erasure, Tombstone
from carchain.core.holds import LegalHold
from carchain.node.backend import NodeBackend

router = APIRouter(tags=["consent and access"])
Backend = Annotated[NodeBackend, Depends(get_backend)]
Seq = Annotated[int, Path(ge=0, lt=2**63, description="A per-vehicle sequence number.")]
_ERRORS = compute_error_responses(404, 422)

GrantModel = compute_record_model(Grant)
RequestModel = compute_record_model(AccessRequest)
ReleaseModel = compute_record_model(AccessRelease)
ReceiptModel = compute_record_model(AccessReceipt)
ErasureModel = compute_record_model(Erasure)
TombstoneModel = compute_record_model(Tombstone)
HoldModel = compute_record_model(LegalHold)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GrantWithStatus(GrantModel):  # type: ignore[valid-type,misc]
    """A grant and whether it is in force at the latest block."""

    in_force: bool = Field(description="Not withdrawn, not expired, same ownership period.")


class ConsentList(_Strict):
    """A page of a vehicle's grants, newest first."""

    vehicle_id: str
    height: int = Field(description="The block the in-force flags are computed at.")
    grants: list[GrantWithStatus]
    next_before: int | None = Field(description="Cursor of the next (older) page, or null.")


class RequestDetail(_Strict):
    """An access request, its decision, its release (if any) and its receipts."""

    request: RequestModel  # type: ignore[valid-type]
    release: ReleaseModel | None  # type: ignore[valid-type]
    receipts: list[ReceiptModel]  # type: ignore[valid-type]


class ErasureDetail(_Strict):
    """An erasure request and, once complete, its tombstone."""

    erasure: ErasureModel  # type: ignore[valid-type]
    tombstone: TombstoneModel | None  # type: ignore[valid-type]


class ErasureList(_Strict):
    """A vehicle's erasure requests, oldest first."""

    vehicle_id: str
    erasures: list[ErasureModel]  # type: ignore[valid-type]


class OverdueEntry(_Strict):
    """One entry of an OEM's overdue list and the erasure request as it stands now."""

    n: int
    erasure: ErasureModel  # type: ignore[valid-type]


class OverdueList(_Strict):
    """An OEM's overdue erasures: how many are overdue now, and the history newest first."""

    oem: str
    overdue_now: int
    entries: list[OverdueEntry]


class HoldList(_Strict):
    """The legal holds in force over a vehicle."""

    vehicle_id: str
    holds: list[HoldModel]  # type: ignore[valid-type]


def _latest(backend: NodeBackend) -> tuple[BackendView, int, int]:
    """Return a view of the latest state with its height and block time."""
    st = backend.status()
    return BackendView(backend), st.height, st.latest_block_time_ms


@router.get("/vehicles/{vehicle_id}/consents", response_model=ConsentList, responses=_ERRORS)
def list_consents(
    vehicle_id: str,
    backend: Backend,
    before: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> dict[str, Any]:
    """Return the vehicle's grants (withdrawn and expired too), newest first, each with
    whether it is in force at the latest block; page with ``before`` (a grant seq)."""
    view, height, time_ms = _latest(backend)
    vehicle = vehicles.get_vehicle(view, vehicle_id)
    seqs = compute_page_seqs(consents.get_grant_count(view, vehicle_id), before, limit)
    found = (consents.get_grant_optional(view, vehicle_id, s) for s in seqs)
    grants = [
        to_object_json(g) | {"in_force": consents.is_grant_in_force(g, vehicle, height, time_ms)}
        for g in found
        if g is not None
    ]
    next_before = seqs[-1] if seqs and seqs[-1] > 0 else None
    return {
        "vehicle_id": vehicle_id,
        "height": height,
        "grants": grants,
        "next_before": next_before,
    }


@router.get(
    "/vehicles/{vehicle_id}/access-requests/{seq}",
    response_model=RequestDetail,
    responses=_ERRORS,
)
def get_access_request(vehicle_id: str, seq: Seq, backend: Backend) -> dict[str, Any]:
    """Return an access request with the chain's decision, its release and receipts."""
    view = BackendView(backend)
    request = access.get_request(view, vehicle_id, seq)
    release = access_releases.get_release_optional(view, vehicle_id, seq)
    receipts = access_releases.get_receipts(view, vehicle_id, seq)
    return {
        "request": to_object_json(request),
        "release": None if release is None else to_object_json(release),
        "receipts": [to_object_json(r) for r in receipts],
    }


@router.get("/vehicles/{vehicle_id}/erasures", response_model=ErasureList, responses=_ERRORS)
def list_erasures(vehicle_id: str, backend: Backend) -> dict[str, Any]:
    """Return the vehicle's erasure requests (open, held, overdue, complete)."""
    view = BackendView(backend)
    vehicles.get_vehicle(view, vehicle_id)
    items = [to_object_json(e) for e in erasure.get_erasures(view, vehicle_id)]
    return {"vehicle_id": vehicle_id, "erasures": items}


@router.get(
    "/vehicles/{vehicle_id}/erasures/{seq}", response_model=ErasureDetail, responses=_ERRORS
)
def get_erasure(vehicle_id: str, seq: Seq, backend: Backend) -> dict[str, Any]:
    """Return one erasure request and its tombstone once complete."""
    view = BackendView(backend)
    record = erasure.get_erasure(view, vehicle_id, seq)
    tomb = erasure.get_tombstone_optional(view, vehicle_id, seq)
    doc = None if tomb is None else to_object_json(tomb)
    return {"erasure": to_object_json(record), "tombstone": doc}


@router.get("/members/{oem}/erasures/overdue", response_model=OverdueList, responses=_ERRORS)
def list_overdue_erasures(
    oem: str,
    backend: Backend,
    before: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Return how many of the OEM's erasures are overdue now, and its overdue history."""
    view = BackendView(backend)
    members.get_member(view, oem)
    page = erasure.get_overdue_erasures(view, oem, before, limit)
    entries = [{"n": n, "erasure": to_object_json(e)} for n, e in page]
    return {"oem": oem, "overdue_now": erasure.get_overdue_count(view, oem), "entries": entries}


@router.get("/vehicles/{vehicle_id}/holds", response_model=HoldList, responses=_ERRORS)
def list_holds(vehicle_id: str, backend: Backend) -> dict[str, Any]:
    """Return the legal holds in force over the vehicle (case by hash only).

    A sealed case's hold is listed only once the case's notice is due, like the rest
    of the case (docs/lawful-access.md).
    """
    view = BackendView(backend)
    vehicles.get_vehicle(view, vehicle_id)
    shown = [h for h in holds.get_holds_in_force(view, vehicle_id) if _is_shown(view, h)]
    return {"vehicle_id": vehicle_id, "holds": [to_object_json(h) for h in shown]}


def _is_shown(view: BackendView, hold: LegalHold) -> bool:
    if not hold.case_id:
        return True
    case = cases.get_case_optional(view, hold.case_id)
    return case is not None and case.noticed


def register(app: FastAPI) -> None:
    """Add the consent, access and erasure routes."""
    app.include_router(router)
