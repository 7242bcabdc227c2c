"""Audit queries from the PostgreSQL index (``carchain index run``): NOT proven.

These routes answer what state reads cannot answer fast: every access-log entry of
an OEM or vehicle from a copy that scales to tens of millions of entries, what one
member did over a time range, every event of a type or vehicle. The index is a
copy the member keeps; each entry names its position (``vehicle_id`` and ``seq``,
an event's ``id``), so a reader who must rely on it fetches the proven entry from
``GET /vehicles/{vehicle_id}/access-log?before=<seq + 1>&limit=1`` or the event
from its block. ``indexed_height`` says how far the index has followed the chain.
503 ``index_unavailable`` when the API runs without an index or it does not answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from carchain.api.routes.access_log import AccessEventModel, Before, Limit
from carchain.api.schemas import compute_error_responses
from carchain.core.event_ids import parse_event_id
from carchain.errors import IndexUnavailable

if TYPE_CHECKING:  # the reader imports psycopg: an API without an index never loads it
    from carchain.index.queries import AuditIndex

router = APIRouter(prefix="/index", tags=["audit index (unproven)"])
DEFAULT_LIMIT = 20
MAX_MS = 2**63 - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IndexedAccessEntry(_Strict):
    """An access-log entry as the index holds it (prove it with the node's route)."""

    seq: int
    oem: str
    oem_seq: int
    event: AccessEventModel


class IndexedAccessPage(_Strict):
    """A page of indexed access-log entries, newest first."""

    indexed_height: int = Field(description="The last height the index holds in full.")
    proven: bool = Field(description="Always false: check entries against the node.")
    events: list[IndexedAccessEntry]
    next_before: int | None = Field(default=None, description="Cursor of the next page.")


class IndexedEvent(_Strict):
    """An event of a committed transaction, as ``GET /events`` sends it."""

    id: str
    height: int
    tx_index: int
    event_index: int
    tx_hash: str
    time_ms: int
    type: str
    attributes: dict[str, str]


class IndexedEventPage(_Strict):
    """A page of indexed events, newest first."""

    indexed_height: int
    proven: bool
    events: list[IndexedEvent]
    next_before: str | None = Field(description="Event id cursor of the next page.")


def get_audit_index(request: Request) -> AuditIndex:
    """Return the app's index reader; ``IndexUnavailable`` when it has none."""
    index = getattr(request.app.state, "audit_index", None)
    if index is None:
        raise IndexUnavailable("this API runs without an audit index", reason="not_configured")
    return index  # type: ignore[no-any-return]


Index = Annotated["AuditIndex", Depends(get_audit_index)]
ERRORS = compute_error_responses(400, 422, 503)


@router.get("/vehicles/{vehicle_id}/access-log", response_model=IndexedAccessPage, responses=ERRORS)
def get_indexed_vehicle_log(
    vehicle_id: str, index: Index, before: Before = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    """Return a vehicle's indexed access-log entries, newest first (unproven)."""
    return index.get_vehicle_page(vehicle_id, before, limit)


@router.get("/members/{oem}/access-log", response_model=IndexedAccessPage, responses=ERRORS)
def get_indexed_oem_log(
    oem: str, index: Index, before: Before = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    """Return an OEM's indexed access-log entries by OEM seq, newest first (unproven)."""
    return index.get_oem_page(oem, before, limit)


@router.get("/actors/{member_id}/access-log", response_model=IndexedAccessPage, responses=ERRORS)
def get_indexed_actor_log(
    member_id: str,
    index: Index,
    since_ms: Annotated[int, Query(ge=0, le=MAX_MS)] = 0,
    until_ms: Annotated[int, Query(ge=0, le=MAX_MS)] = MAX_MS,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Return the entries a member signed in ``[since_ms, until_ms)``, newest first."""
    return index.get_actor_page(member_id, since_ms, until_ms, limit)


@router.get("/events", response_model=IndexedEventPage, responses=ERRORS)
def get_indexed_events(
    index: Index,
    type: Annotated[str, Query(max_length=64)] = "",
    vehicle: Annotated[str, Query(max_length=128)] = "",
    before: Annotated[str, Query(max_length=64, description="Event id H:I:E.")] = "",
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Return indexed events (optionally of one type or vehicle) before ``before``."""
    pos = parse_event_id(before) if before else None
    cursor = None if pos is None else (pos.height, pos.tx_index, pos.event_index)
    return index.get_events(type, vehicle, cursor, limit)


def register(app: FastAPI) -> None:
    """Add the audit-index routes."""
    app.include_router(router)
