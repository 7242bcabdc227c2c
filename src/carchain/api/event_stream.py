"""Serving the committed blocks' events as Server-Sent Events, on either engine.

A stream reads block after block from its start height through the backend
(``get_block_optional``), sends the events its filter passes, and, when
following, waits for the next commit: on a ``CommitWaiter`` backend (the solo
node and the network backend) the commit itself wakes it; any other backend's
height is polled. A height the backend says is committed is never skipped: if
its block cannot be read yet, the stream waits and reads it again.

``EventStreams`` (one per app, ``app.state.event_streams``) bounds the number of
open streams and ends them all at shutdown (``close``), so the server never
waits on a stream that would run forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from carchain.core.event_ids import EventPosition
from carchain.errors import NodeUnavailable, TooManySubscribers
from carchain.node.backend import BlockView, CommitWaiter, NodeBackend
from carchain.node.events import EventFilter, compute_block_end, select_block_events

DEFAULT_MAX_SUBSCRIBERS = 64
DEFAULT_HEARTBEAT_S = 15.0
POLL_INTERVAL_S = 0.5  # only for a backend that cannot wake the stream on commit
RETRY_MS = 1000  # the EventSource reconnection delay the stream asks for


@dataclass(frozen=True, slots=True)
class StreamStart:
    """Where a stream begins: the first height to read, and the position after which
    its events are new (``None``: all of that height's events are)."""

    height: int
    after: EventPosition | None = None


class StreamSlot:
    """One open stream's place in ``EventStreams``: its stop signal; released once."""

    def __init__(self, owner: EventStreams, loop: asyncio.AbstractEventLoop) -> None:
        self.owner = owner
        self.loop = loop
        self.stopped = asyncio.Event()
        self._released = False

    def stop(self) -> None:
        """Ask the stream to end (callable from any thread)."""
        with contextlib.suppress(RuntimeError):  # its loop is closed: it already ended
            self.loop.call_soon_threadsafe(self.stopped.set)

    def release(self) -> None:
        """Give the place back (idempotent)."""
        if not self._released:
            self._released = True
            self.owner.discard(self)


@dataclass
class EventStreams:
    """The app's open event streams: at most ``max_subscribers``, all ended by ``close``."""

    max_subscribers: int = DEFAULT_MAX_SUBSCRIBERS
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    closed: bool = False
    _slots: set[StreamSlot] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def open_count(self) -> int:
        """Return how many streams are open."""
        with self._lock:
            return len(self._slots)

    def acquire(self) -> StreamSlot:
        """Return a new stream's slot; ``TooManySubscribers`` when all are taken."""
        slot = StreamSlot(self, asyncio.get_running_loop())
        with self._lock:
            if self.closed:
                raise NodeUnavailable("the node is shutting down its event streams")
            if len(self._slots) >= self.max_subscribers:
                raise TooManySubscribers(
                    "the node serves as many event streams as it allows; retry later",
                    limit=self.max_subscribers,
                )
            self._slots.add(slot)
        return slot

    def discard(self, slot: StreamSlot) -> None:
        """Forget a finished stream's slot."""
        with self._lock:
            self._slots.discard(slot)

    def end_open_streams(self) -> int:
        """End the open streams (their clients reconnect); return how many there were."""
        with self._lock:
            slots = list(self._slots)
        for slot in slots:
            slot.stop()
        return len(slots)

    def close(self) -> None:
        """End every open stream and refuse new ones (server shutdown)."""
        with self._lock:
            self.closed = True
        self.end_open_streams()


class ChainEventResponse(EventSourceResponse):
    """An ``EventSourceResponse`` that gives its slot back however the stream ends
    (even if the body never started: the client left before the first byte)."""

    media_type = "text/event-stream"  # a class attribute: the OpenAPI document reads it

    def __init__(self, content: AsyncIterator[ServerSentEvent], slot: StreamSlot) -> None:
        super().__init__(content, ping=0)  # the stream sends its own heartbeats
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the stream; release the slot at the end."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()


async def get_committed_height(backend: NodeBackend) -> int:
    """Return the backend's committed height (read off the event loop)."""
    status = await asyncio.to_thread(backend.status)
    return status.height


async def wait_for_commit(
    backend: NodeBackend, height: int, timeout_s: float, stop: asyncio.Event
) -> None:
    """Return once ``height`` is committed, ``timeout_s`` passed, or ``stop`` is set."""
    waiting: asyncio.Future[object]
    if isinstance(backend, CommitWaiter):
        waiting = asyncio.ensure_future(backend.wait_for_height(height, timeout_s))
    else:
        waiting = asyncio.ensure_future(asyncio.sleep(min(POLL_INTERVAL_S, timeout_s)))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiting, stopping):
            task.cancel()


def make_event_frame(event_json: dict[str, object]) -> ServerSentEvent:
    """Return the SSE frame of one event: its id and its JSON document."""
    data = json.dumps(event_json, separators=(",", ":"), sort_keys=True)
    return ServerSentEvent(data, id=str(event_json["id"]))


def make_heartbeat(cursor: EventPosition | None) -> ServerSentEvent:
    """Return a keepalive comment carrying the stream's cursor as its id (if any).

    An EventSource takes the id as its last event id without dispatching an event,
    so a reconnect resumes after the blocks already read, not after the last match.
    """
    return ServerSentEvent(comment="heartbeat", id=None if cursor is None else cursor.to_id())


async def read_block(
    backend: NodeBackend, height: int, stop: asyncio.Event, heartbeat_s: float
) -> BlockView | None:
    """Return the committed block at ``height``, waiting while it cannot be read yet
    (``None`` only if the stream is stopped meanwhile)."""
    while not stop.is_set():
        block = await asyncio.to_thread(backend.get_block_optional, height)
        if block is not None:
            return block
        await wait_for_commit(backend, height + 1, min(POLL_INTERVAL_S, heartbeat_s), stop)
    return None


async def generate_events(
    backend: NodeBackend,
    event_filter: EventFilter,
    start: StreamStart,
    follow: bool,
    streams: EventStreams,
    slot: StreamSlot,
) -> AsyncIterator[ServerSentEvent]:
    """Yield the frames of one stream: an opening comment, then the events from
    ``start`` on, heartbeats while idle; end when caught up unless ``follow``."""
    loop = asyncio.get_running_loop()
    yield ServerSentEvent(comment="open", retry=RETRY_MS)
    height, after, cursor = start.height, start.after, None
    last_frame = loop.time()
    while not slot.stopped.is_set():
        if height <= await get_committed_height(backend):
            block = await read_block(backend, height, slot.stopped, streams.heartbeat_s)
            if block is None:
                break
            for event in select_block_events(block, event_filter, after):
                yield make_event_frame(event.to_json())
                last_frame = loop.time()
            height, after, cursor = height + 1, None, compute_block_end(block)
        elif not follow:
            break
        else:
            await wait_for_commit(backend, height, streams.heartbeat_s, slot.stopped)
        if loop.time() - last_frame >= streams.heartbeat_s:
            yield make_heartbeat(cursor)
            last_frame = loop.time()
