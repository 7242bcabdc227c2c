"""Listings of members, vehicles, proposals and account nonces."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from carchain.api.deps import get_backend
from carchain.api.encoding import parse_hex, to_jsonable
from carchain.api.explorer_models import ProposalOut, VehiclePage
from carchain.api.explorer_registry import compute_proposal_item, get_vehicle_page
from carchain.api.record_models import compute_record_model
from carchain.api.schemas import compute_error_responses
from carchain.api.tx_decode import MemberNames
from carchain.api.view import BackendView
from carchain.core import accounts, governance, members, vehicles
from carchain.node.backend import NodeBackend

router = APIRouter(tags=["registry"])
Limit = Annotated[int, Query(ge=1, le=1000)]
ProposalId = Annotated[int, Path(ge=0, lt=2**63, description="A proposal id.")]
MemberModel = compute_record_model(members.Member)
VehicleModel = compute_record_model(vehicles.Vehicle)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberList(_Strict):
    """A page of members by id."""

    members: list[MemberModel]  # type: ignore[valid-type]


class AccountOut(_Strict):
    """A signer's last nonce."""

    public_key: str = Field(description="Ed25519 public key, hex.")
    nonce: int = Field(description="The last nonce it used (0: none yet).")


@router.get("/members", response_model=MemberList, responses=compute_error_responses(422))
def list_members(
    backend: Annotated[NodeBackend, Depends(get_backend)], limit: Limit = 100, after: str = ""
) -> dict[str, Any]:
    """List members by id (paged with ``after``)."""
    items = [
        to_jsonable(members.decode_member(v))
        for _, v in backend.iterate(
            members.STORE,
            members.MEMBER_KEY_PREFIX,
            limit,
            members.compute_member_key(after) if after else b"",
        )
    ]
    return {"members": items}


@router.get(
    "/members/{member_id}", response_model=MemberModel, responses=compute_error_responses(404)
)
def get_member(member_id: str, backend: Annotated[NodeBackend, Depends(get_backend)]) -> Any:
    """Return one member."""
    return to_jsonable(members.get_member(BackendView(backend), member_id))


@router.get("/vehicles", response_model=VehiclePage, responses=compute_error_responses(400, 422))
def list_vehicles(
    backend: Annotated[NodeBackend, Depends(get_backend)],
    limit: Limit = 100,
    after: str = "",
    oem: str = "",
    owner: Annotated[str, Query(max_length=64)] = "",
) -> dict[str, Any]:
    """List vehicles by id (paged with ``after``; ``next_after`` continues), optionally
    only one OEM's and one owner's (``owner``: account public key, hex). Each item adds
    ``oem_name``. Bounded: see docs/explorer-api.md."""
    owner_key = parse_hex(owner, "owner", 32) if owner else None
    return get_vehicle_page(backend, BackendView(backend), oem, owner_key, after, limit)


@router.get(
    "/vehicles/{vehicle_id}", response_model=VehicleModel, responses=compute_error_responses(404)
)
def get_vehicle(vehicle_id: str, backend: Annotated[NodeBackend, Depends(get_backend)]) -> Any:
    """Return one vehicle's registration (no VIN: only its salted commitment)."""
    return to_jsonable(vehicles.get_vehicle(BackendView(backend), vehicle_id))


@router.get(
    "/proposals/{proposal_id}",
    response_model=ProposalOut,
    responses=compute_error_responses(404, 422),
)
def get_proposal(
    proposal_id: ProposalId, backend: Annotated[NodeBackend, Depends(get_backend)]
) -> Any:
    """Return one governance proposal with its votes (the ``GET /proposals`` item)."""
    view = BackendView(backend)
    proposal = governance.get_proposal(view, proposal_id)
    # The next vote would land in the block after the latest one.
    return compute_proposal_item(proposal, backend.status().height + 1, MemberNames(view))


@router.get(
    "/accounts/{public_key}", response_model=AccountOut, responses=compute_error_responses(400)
)
def get_account(public_key: str, backend: Annotated[NodeBackend, Depends(get_backend)]) -> Any:
    """Return the last nonce a signer used (0 if none)."""
    key = parse_hex(public_key, "public key", 32)
    q = backend.query(accounts.STORE, key, False)
    nonce = int.from_bytes(q.value, "big") if q.code == 0 else 0
    return {"public_key": key.hex(), "nonce": nonce}


def register(app: FastAPI) -> None:
    """Add the registry routes."""
    app.include_router(router)
