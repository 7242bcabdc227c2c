"""The escrow committee in force for an epoch: what a car seals its key shares to.

``GET /escrow/committee?epoch=E&oem=O`` answers the committee version whose
``from_epoch`` is the latest at or before ``E`` (404 before the first one) and
the key of each seat for a vehicle of OEM ``O``: a custodian's registered escrow
key (copied when the committee was set), and for the vehicle-OEM seat the OEM's
escrow key, else its member key (empty without ``oem``). Without ``epoch``: the
epoch of the latest block.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field

from carchain.api.deps import get_backend
from carchain.api.encoding import to_object_json
from carchain.api.record_models import compute_record_model
from carchain.api.schemas import compute_error_responses
from carchain.api.view import BackendView
from carchain.core import escrow_committee
from carchain.core.case_records import DAY_MS, VEHICLE_OEM_SEAT, EscrowCommittee
from carchain.errors import NotFound
from carchain.node.backend import NodeBackend

router = APIRouter(tags=["lawful access"])
Backend = Annotated[NodeBackend, Depends(get_backend)]
CommitteeModel = compute_record_model(EscrowCommittee)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CommitteeForEpoch(_Strict):
    """The escrow committee in force for an epoch and the key each seat's share goes to."""

    epoch: int
    committee: CommitteeModel  # type: ignore[valid-type]
    seat_keys: list[str] = Field(
        description="hex, one per seat in seat order; the vehicle-OEM seat's is empty "
        "unless ``oem`` is given"
    )


@router.get(
    "/escrow/committee",
    response_model=CommitteeForEpoch,
    responses=compute_error_responses(404, 422),
)
def get_committee_for_epoch(
    backend: Backend,
    epoch: Annotated[int | None, Query(ge=0, lt=2**40)] = None,
    oem: Annotated[str, Query(max_length=64)] = "",
) -> dict[str, Any]:
    """Return the escrow committee in force for ``epoch`` (default: the latest block's
    epoch) with its seat keys for a vehicle of ``oem``; 404 if none is in force."""
    if epoch is None:
        epoch = backend.status().latest_block_time_ms // DAY_MS
    view = BackendView(backend)
    committee = escrow_committee.get_committee_for_epoch(view, epoch)
    if committee is None:
        raise NotFound("no escrow committee is in force for that epoch")
    keys = [
        b""
        if c.member_id == VEHICLE_OEM_SEAT and not oem
        else escrow_committee.get_seat_key(view, c, oem)
        for c in committee.custodians
    ]
    return {
        "epoch": epoch,
        "committee": to_object_json(committee),
        "seat_keys": [k.hex() for k in keys],
    }


def register(app: FastAPI) -> None:
    """Add the escrow committee route."""
    app.include_router(router)
