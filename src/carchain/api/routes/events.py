"""``GET /events``: the committed blocks' events as a Server-Sent Events stream."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from pydantic import BaseModel, Field

from carchain.api.deps import get_backend
from carchain.api.event_stream import (
    ChainEventResponse,
    EventStreams,
    StreamStart,
    generate_events,
    get_committed_height,
)
from carchain.api.schemas import ErrorDocument, compute_error_responses
from carchain.core.event_ids import MAX_POSITION, parse_event_id
from carchain.core.members import compute_member_key, decode_member
from carchain.core.validation import validate_member_identifier
from carchain.core.vehicles import validate_vehicle_id
from carchain.errors import CarchainError, InvalidEventCursor, InvalidEventFilter, NotFound
from carchain.node.backend import NodeBackend
from carchain.node.events import EventFilter

router = APIRouter(tags=["events"])
MAX_TYPES = 32
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
STREAM_DESCRIPTION = (
    "A `text/event-stream`: each frame's `data` is one event (this schema), its `id` the "
    "event id; `: heartbeat` comments keep the connection alive."
)


class ChainEventModel(BaseModel):
    """The JSON ``data`` of one stream frame (its SSE ``id`` is the same ``id``)."""

    id: str = Field(description="Event id `H:I:E`: height, transaction index, event index.")
    height: int
    tx_index: int
    event_index: int
    tx_hash: str = Field(description="The transaction's hash, hex.")
    time_ms: int = Field(description="The block's time, ms since the epoch.")
    type: str = Field(description="Event type, e.g. `tx`, `vehicle_registered`.")
    attributes: dict[str, str]


# The OpenAPI 3.2 form of an event stream (as FastAPI writes its own): each item is
# one frame whose ``data`` is a JSON ``ChainEventModel``.
SSE_ITEM = {
    "itemSchema": {
        "type": "object",
        "required": ["data", "id"],
        "properties": {
            "id": {"type": "string", "description": "The event id `H:I:E`."},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": "#/components/schemas/ChainEventModel"},
            },
            "retry": {"type": "integer", "minimum": 0},
        },
    }
}


def compute_json_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return ``compute_error_responses`` with the error document as JSON content: the
    route's own media type (an event stream) is not the errors' one."""
    out: dict[int | str, dict[str, Any]] = {}
    for status, doc in compute_error_responses(*statuses).items():
        schema = {"$ref": f"#/components/schemas/{ErrorDocument.__name__}"}
        out[status] = {
            "description": doc["description"],
            "content": {"application/json": {"schema": schema}},
        }
    return out


def parse_types(text: str) -> frozenset[str]:
    """Return the event types of ``types=a,b``; ``InvalidEventFilter`` if one is malformed."""
    names = [t.strip() for t in text.split(",")] if text.strip() else []
    if len(names) > MAX_TYPES:
        raise InvalidEventFilter("too many event types", name="types", limit=MAX_TYPES)
    for name in names:
        if not _TYPE_RE.fullmatch(name):
            raise InvalidEventFilter(
                "an event type is 1-64 of [a-z0-9_], starting with a letter",
                name="types",
                value=name[:80],
            )
    return frozenset(names)


def validate_id_filter(name: str, value: str) -> None:
    """Raise ``InvalidEventFilter`` unless ``value`` is a well-formed vehicle or member id."""
    try:
        (validate_vehicle_id if name == "vehicle" else validate_member_identifier)(value)
    except CarchainError as exc:
        raise InvalidEventFilter(exc.message, name=name, value=value[:140]) from None


def get_member_key(backend: NodeBackend, member: str) -> str:
    """Return the member's current key (hex); ``NotFound`` if there is no such member."""
    q = backend.query("members", compute_member_key(member), prove=False)
    if q.code != 0 or not q.value:
        raise NotFound("no such member", member_id=member)
    return decode_member(q.value).public_key.hex()


async def compute_filter(
    backend: NodeBackend, types: str, vehicle: str, member: str
) -> EventFilter:
    """Return the stream's filter from the query parameters (each validated)."""
    if vehicle:
        validate_id_filter("vehicle", vehicle)
    key = ""
    if member:
        validate_id_filter("member", member)
        key = await asyncio.to_thread(get_member_key, backend, member)
    return EventFilter(parse_types(types), vehicle, member, key)


async def compute_start(
    backend: NodeBackend, from_height: int | None, last_event_id: str | None, follow: bool
) -> StreamStart:
    """Return where the stream starts: after ``Last-Event-ID`` (a reconnect), else at
    ``from_height``, else at the next block (following) or at block 1."""
    if last_event_id is not None and last_event_id.strip():
        after = parse_event_id(last_event_id)
        if after.height < 1:  # no block 0: its stream would wait for a block never made
            raise InvalidEventCursor("an event id's height is at least 1", value=last_event_id[:80])
        return StreamStart(after.height, after)
    if from_height is not None:
        if not 1 <= from_height <= MAX_POSITION:
            raise InvalidEventFilter(
                "from_height must be at least 1", name="from_height", value=str(from_height)[:40]
            )
        return StreamStart(from_height)
    if follow:
        return StreamStart(await get_committed_height(backend) + 1)
    return StreamStart(1)


def get_event_streams(request: Request) -> EventStreams:
    """Return the app's ``EventStreams``."""
    streams: EventStreams = request.app.state.event_streams
    return streams


@router.get(
    "/events",
    status_code=200,
    response_class=ChainEventResponse,
    response_model=ChainEventModel,
    responses={
        200: {"description": STREAM_DESCRIPTION, "content": {"text/event-stream": SSE_ITEM}},
        **compute_json_error_responses(400, 404, 422, 503),
    },
)
async def stream_events(
    backend: Annotated[NodeBackend, Depends(get_backend)],
    streams: Annotated[EventStreams, Depends(get_event_streams)],
    types: Annotated[str, Query(max_length=2100, description="Event types, `a,b`.")] = "",
    vehicle: Annotated[str, Query(max_length=200, description="Vehicle id.")] = "",
    member: Annotated[str, Query(max_length=100, description="Member id.")] = "",
    from_height: Annotated[int | None, Query(description="First height to read.")] = None,
    follow: Annotated[bool, Query(description="Wait for new blocks (else end).")] = True,
    last_event_id: Annotated[str | None, Header(max_length=80)] = None,
) -> ChainEventResponse:
    """Stream the events of committed blocks as Server-Sent Events (`text/event-stream`).

    Each frame's `id` is the event id `H:I:E` (height, transaction index, event index)
    and its `data` one JSON event: its type and attributes, the transaction's hash,
    the block's time. A transaction has several events: `tx` (type, signer) first,
    then those of its rule (e.g. `vehicle_registered`). Filters, all of which must
    hold: `types=a,b`; `vehicle=` (the event's `vehicle_id`); `member=` (the event
    names the member in `member_id`, `oem`, `proposer`, `voter`, `la1` or `la2`, or
    its transaction was signed with the member's current key).

    The stream starts after `Last-Event-ID` (a reconnect: no gap, no duplicate),
    else at `from_height`, else at the next block (`follow=true`) or block 1. With
    `follow=false` it ends once it has read the committed blocks, with an `end` event
    whose `id` is the cursor (a stream ending without it was cut short). While idle it sends
    a `: heartbeat` comment every 15 s whose `id` is the cursor (the last block read
    in full, `H:T:0`), so a reconnect does not read those blocks again. A connection
    reads at most 1000 blocks and lasts at most 1 h: it then ends with a `resume`
    event whose `id` is the cursor; reconnect with it as `Last-Event-ID`. A client
    that takes no frame for 30 s loses its stream. 400
    `invalid_event_filter` / `invalid_event_cursor`, 404 `not_found` (unknown member),
    503 `too_many_subscribers` when the node's stream limit is reached.
    """
    event_filter = await compute_filter(backend, types, vehicle, member)
    start = await compute_start(backend, from_height, last_event_id, follow)
    slot = streams.acquire()
    events = generate_events(backend, event_filter, start, follow, streams, slot)
    return ChainEventResponse(events, slot, streams.send_timeout_s)


def close_event_streams(app: FastAPI) -> None:
    """End the app's open event streams (before stopping the server that serves them)."""
    streams: EventStreams | None = getattr(app.state, "event_streams", None)
    if streams is not None:
        streams.close()


def register(app: FastAPI) -> None:
    """Add the event stream route and the app's stream registry."""
    app.state.event_streams = EventStreams()
    app.include_router(router)
