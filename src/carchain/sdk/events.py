"""Following a node's event stream (``GET /events``): parse SSE, reconnect, resume.

``iterate_events`` reads the stream's frames and yields each event once, in order.
When the connection drops or the server ends a followed stream, it reconnects with
``Last-Event-ID`` set to the last id it saw (an event's, or a heartbeat's cursor):
the node resumes right after it, so across reconnects there is no gap, and the
iterator drops anything at or before its last position, so there is no duplicate.
A connection the node ends with a ``resume`` frame (it read its block budget or
lived its maximum lifetime) is continued the same way, followed or not.
A typed error answer (a bad filter, an unknown member) is raised, not retried;
``too_many_subscribers``, an unavailable node and broken connections are retried
``max_retries`` times in a row with a growing delay, then raised.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from carchain.core.event_ids import EventPosition, parse_event_id
from carchain.errors import (
    InvalidEventCursor,
    NodeUnavailable,
    TooManySubscribers,
)
from carchain.sdk.http import compute_response_error

DEFAULT_READ_TIMEOUT_S = 60.0  # the node sends a heartbeat every 15 s while idle
DEFAULT_MAX_RETRIES = 5
RESUME_EVENT = "resume"  # the node ended this connection early: continue from its id
END_EVENT = "end"  # a ``follow=false`` stream read every committed block: it is complete
RETRYABLE = (TooManySubscribers, NodeUnavailable)
# The most of one line or one frame's data the client holds: an event is a few hundred
# bytes (a transaction at most 64 KiB), so a node's line without an end, or a frame of
# endless ``data:`` lines, is refused instead of filling the client's memory.
MAX_FRAME_CHARS = 1 << 20
_LINE_END = re.compile(r"\r\n|\r|\n")


class BusyNode(Exception):
    """A node's refusal worth retrying (``RETRYABLE``, from its answer's status): not a
    malformed stream, which is raised at once."""

    def __init__(self, error: TooManySubscribers | NodeUnavailable) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event of a committed transaction, as the stream delivers it."""

    id: str
    height: int
    tx_index: int
    event_index: int
    tx_hash: str
    time_ms: int
    type: str
    attributes: dict[str, str]

    def to_json(self) -> dict[str, object]:
        """Return the event as the node's JSON document."""
        return {
            "id": self.id,
            "height": self.height,
            "tx_index": self.tx_index,
            "event_index": self.event_index,
            "tx_hash": self.tx_hash,
            "time_ms": self.time_ms,
            "type": self.type,
            "attributes": dict(self.attributes),
        }


@dataclass(frozen=True, slots=True)
class SseFrame:
    """One dispatched SSE frame: its id (if any), data (``None``: a comment only) and
    event type (``None``: a plain message)."""

    id: str | None
    data: str | None
    event: str | None = None


def iterate_lines(texts: Iterator[str], max_chars: int = MAX_FRAME_CHARS) -> Iterator[str]:
    """Yield the lines of a stream's decoded text chunks (ended by CRLF, LF or CR, as SSE
    says); ``NodeUnavailable`` once a line runs past ``max_chars`` without its end."""
    buf = ""
    for text in texts:
        buf += text
        start = 0
        for m in _LINE_END.finditer(buf):
            if m.group() == "\r" and m.end() == len(buf):
                break  # its "\n" may be the next chunk's first character
            yield buf[start : m.start()]
            start = m.end()
        buf = buf[start:]
        if len(buf) > max_chars:
            raise NodeUnavailable(f"the node sent an event-stream line over {max_chars} characters")
    if buf:
        yield buf.removesuffix("\r")


def parse_sse(lines: Iterator[str], max_chars: int = MAX_FRAME_CHARS) -> Iterator[SseFrame]:
    """Yield the frames of an event stream's lines (WHATWG rules: ``field: value``,
    ``:`` comments, a blank line ends a frame; a frame with only an id is yielded too);
    ``NodeUnavailable`` for a frame whose data runs past ``max_chars``."""
    frame_id: str | None = None
    event: str | None = None
    data: list[str] = []
    size = 0
    for line in lines:
        if line == "":
            if frame_id is not None or data or event is not None:
                yield SseFrame(frame_id, "\n".join(data) if data else None, event)
            frame_id, event, data, size = None, None, [], 0
            continue
        size += len(line)
        if size > max_chars:
            raise NodeUnavailable(
                f"the node sent an event-stream frame over {max_chars} characters"
            )
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id" and "\0" not in value:
            frame_id = value
        elif name == "data":
            data.append(value)
        elif name == "event":
            event = value


def decode_event(frame: SseFrame) -> StreamEvent:
    """Return the event a data frame carries; ``NodeUnavailable`` if it is not one."""
    try:
        doc = json.loads(frame.data or "")
        event = StreamEvent(
            id=str(doc["id"]),
            height=int(doc["height"]),
            tx_index=int(doc["tx_index"]),
            event_index=int(doc["event_index"]),
            tx_hash=str(doc["tx_hash"]),
            time_ms=int(doc["time_ms"]),
            type=str(doc["type"]),
            attributes={str(k): str(v) for k, v in dict(doc["attributes"]).items()},
        )
    except (ValueError, KeyError, TypeError, RecursionError, OverflowError) as exc:
        # OverflowError: a number as 1e400 reads as an infinite float, which int() refuses.
        raise NodeUnavailable(f"the node sent an unreadable event: {type(exc).__name__}") from exc
    if frame.id != event.id:
        raise NodeUnavailable("the node sent an event whose frame id is not its id")
    return event


@dataclass
class EventCursor:
    """How far a subscription got: the last position seen and its id."""

    last_id: str | None = None
    position: EventPosition | None = None
    resume: bool = False  # the node ended the last connection early (``resume`` frame)
    ended: bool = False  # the node ended a ``follow=false`` stream complete (``end`` frame)

    def advance(self, frame_id: str) -> bool:
        """Move to ``frame_id`` if it lies after the cursor; return whether it did."""
        try:
            pos = parse_event_id(frame_id)
        except InvalidEventCursor as exc:
            raise NodeUnavailable("the node sent a malformed event id") from exc
        if self.position is not None and pos <= self.position:
            return False
        self.last_id, self.position = frame_id, pos
        return True


def read_stream(
    http: httpx.Client, params: dict[str, Any], cursor: EventCursor, read_timeout_s: float
) -> Iterator[StreamEvent]:
    """Yield the new events of one connection to ``/events`` (``cursor`` advances);
    raise the typed error of a refused request."""
    headers = {} if cursor.last_id is None else {"Last-Event-ID": cursor.last_id}
    timeout = httpx.Timeout(http.timeout.connect, read=read_timeout_s)
    with http.stream("GET", "/events", params=params, headers=headers, timeout=timeout) as resp:
        if resp.status_code != 200:
            resp.read()
            error = compute_response_error(resp, "node")
            if isinstance(error, RETRYABLE):
                raise BusyNode(error)
            raise error
        for frame in parse_sse(iterate_lines(resp.iter_text())):
            if frame.event in (RESUME_EVENT, END_EVENT):
                if frame.id is not None:
                    cursor.advance(frame.id)
                cursor.resume = frame.event == RESUME_EVENT
                cursor.ended = frame.event == END_EVENT
                return
            if frame.id is None or not cursor.advance(frame.id):
                continue
            if frame.data is not None and frame.event is None:
                yield decode_event(frame)


def iterate_events(
    http: httpx.Client,
    params: dict[str, Any],
    follow: bool,
    max_retries: int = DEFAULT_MAX_RETRIES,
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
) -> Generator[StreamEvent, None, None]:
    """Yield the stream's events once each, reconnecting (``Last-Event-ID``) as needed.

    Without ``follow`` it ends once the node has sent the committed blocks; a dropped
    connection is resumed either way.
    """
    cursor = EventCursor()
    failures = 0
    query = {**params, "follow": str(follow).lower()}
    while True:
        delivered, cursor.resume, before = False, False, cursor.position
        try:
            for event in read_stream(http, query, cursor, read_timeout_s):
                delivered, failures = True, 0
                yield event
            if not follow and cursor.ended:
                return
            # The node ended a followed stream (a restart, a shutdown) or this
            # connection early (``resume``): go on after the cursor.
            progressed = delivered or cursor.position != before
            failures = 0 if progressed else failures + 1
        except httpx.HTTPError as exc:
            failures = 1 if delivered else failures + 1
            if failures > max_retries:
                raise NodeUnavailable(f"lost the node's event stream: {exc}") from exc
        except BusyNode as busy:
            failures += 1
            if failures > max_retries:
                raise busy.error from None
        if failures > max_retries:
            raise NodeUnavailable("the node keeps ending its event stream")
        if failures:
            time.sleep(min(0.2 * 2**failures, 5.0))  # back off before reconnecting
