"""Serving the committed blocks' events as Server-Sent Events, on either engine.

A stream reads block after block from its start height through the backend
(``get_block_optional``), sends the events its filter passes, and, when
following, waits for the next commit: on a ``CommitWaiter`` backend (the solo
node and the network backend) the commit itself wakes it; any other backend's
height is polled. A height the backend says is committed is never skipped: if
its block cannot be read yet, the stream waits the poll interval (heartbeats go on)
and reads it again; no pass of the loop goes without waiting or reading a block.
A connection reads at most ``BLOCK_BUDGET`` blocks and lives at most
``MAX_STREAM_LIFETIME_S``; then it ends with a ``resume`` frame whose id is its
cursor, and the client continues from there. A client that takes no frame within
``SEND_TIMEOUT_S`` loses its stream (and its slot).

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
from sse_starlette.sse import SendTimeoutError
from starlette.types import Receive, Scope, Send

from carchain.core.event_ids import MAX_POSITION, EventPosition
from carchain.errors import NodeUnavailable, TooManySubscribers
from carchain.node.backend import BlockView, CommitWaiter, NodeBackend
from carchain.node.events import EventFilter, compute_block_end, select_block_events

DEFAULT_MAX_SUBSCRIBERS = 64
DEFAULT_HEARTBEAT_S = 15.0
POLL_INTERVAL_S = 0.5  # a backend that cannot wake the stream; a block not readable yet
RETRY_MS = 1000  # the EventSource reconnection delay the stream asks for
SEND_TIMEOUT_S = 30.0  # a client that reads nothing for this long loses its stream
MAX_STREAM_LIFETIME_S = 3600.0  # a stream then ends with its cursor; the client resumes
BLOCK_BUDGET = 1000  # blocks one connection reads; then it ends with its cursor
RESUME_EVENT = "resume"  # the frame that ends a stream the client should continue
END_EVENT = "end"  # the frame that ends a ``follow=false`` stream read to the committed height


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
    poll_s: float = POLL_INTERVAL_S
    send_timeout_s: float = SEND_TIMEOUT_S
    lifetime_s: float = MAX_STREAM_LIFETIME_S
    block_budget: int = BLOCK_BUDGET
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
    (even if the body never started: the client left before the first byte), and
    ends a stream whose client does not take a frame within ``send_timeout_s``."""

    media_type = "text/event-stream"  # a class attribute: the OpenAPI document reads it

    def __init__(
        self,
        content: AsyncIterator[ServerSentEvent],
        slot: StreamSlot,
        send_timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        # ping=0: the stream sends its own heartbeats.
        super().__init__(content, ping=0, send_timeout=send_timeout_s)
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the stream; release the slot at the end (a stalled client's too)."""
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            pass  # the client stopped reading: its stream ends, the server drops it
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


def make_resume_frame(cursor: EventPosition | None, reason: str) -> ServerSentEvent:
    """Return the frame that ends a stream the client should continue: a ``resume``
    event (``onmessage`` does not see it) whose id is the cursor, so a reconnect
    with ``Last-Event-ID`` picks up right after the blocks already read."""
    data = json.dumps({"reason": reason}, separators=(",", ":"))
    return ServerSentEvent(data, event=RESUME_EVENT, id=None if cursor is None else cursor.to_id())


def make_end_frame(cursor: EventPosition | None) -> ServerSentEvent:
    """Return the frame that ends a ``follow=false`` stream once it has read every
    committed block: an ``end`` event whose id is the cursor. A stream that ends
    without it was cut short (a node shutting down, a proxy) and must be resumed."""
    data = json.dumps({"reason": "caught_up"}, separators=(",", ":"))
    return ServerSentEvent(data, event=END_EVENT, id=None if cursor is None else cursor.to_id())


async def wait_or_stop(stop: asyncio.Event, timeout_s: float) -> None:
    """Return after ``timeout_s``, or as soon as ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout_s)


@dataclass
class StreamState:
    """How far one stream got: the next height, the position after which that
    height's events are new, the cursor (the last block read in full), the blocks
    read so far, and how many passes in a row read none."""

    height: int
    after: EventPosition | None
    cursor: EventPosition | None
    blocks_read: int = 0
    idle_passes: int = 0


def compute_start_cursor(start: StreamStart) -> EventPosition | None:
    """Return the cursor before any block is read: the resume point, else a position
    after every event of the block before the start (``H-1:MAX:0``; none for block 1)."""
    if start.after is not None:
        return start.after
    return EventPosition(start.height - 1, MAX_POSITION, 0) if start.height > 1 else None


async def step_stream(
    backend: NodeBackend,
    state: StreamState,
    follow: bool,
    streams: EventStreams,
    stop: asyncio.Event,
) -> BlockView | bool | None:
    """Make one pass of the stream: return the block read (``state`` advances),
    ``None`` if this pass read none, ``False`` once a ``follow=false`` stream is done.

    Every pass that reads no block waits: for a commit (following), for the poll
    interval (a committed block not readable yet), and, after two such passes in a
    row, for at least the poll interval whatever the backend says, so no path spins.
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    if state.height <= await get_committed_height(backend):
        block = await asyncio.to_thread(backend.get_block_optional, state.height)
        if block is not None:
            state.idle_passes = 0
            return block
        await wait_or_stop(stop, streams.poll_s)  # committed, not readable yet: wait
    elif not follow:
        return False
    else:
        await wait_for_commit(backend, state.height, streams.heartbeat_s, stop)
    state.idle_passes += 1
    spent = loop.time() - began
    if state.idle_passes >= 2 and spent < streams.poll_s:
        await wait_or_stop(stop, streams.poll_s - spent)
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
    ``start`` on, heartbeats while idle; end when caught up unless ``follow``.

    After ``streams.block_budget`` blocks (the block a ``H:T:0`` cursor ends is
    read again but not counted, so every connection gets further) or
    ``streams.lifetime_s`` seconds the stream ends with a ``resume`` frame carrying
    its cursor: the client reconnects with it as ``Last-Event-ID`` and goes on
    where this connection stopped.
    """
    loop = asyncio.get_running_loop()
    yield ServerSentEvent(comment="open", retry=RETRY_MS)
    state = StreamState(start.height, start.after, compute_start_cursor(start))
    opened = last_frame = loop.time()
    while not slot.stopped.is_set():
        if state.blocks_read >= streams.block_budget:
            yield make_resume_frame(state.cursor, "block_budget")
            return
        if loop.time() - opened >= streams.lifetime_s:
            yield make_resume_frame(state.cursor, "lifetime")
            return
        block = await step_stream(backend, state, follow, streams, slot.stopped)
        if block is False:
            yield make_end_frame(state.cursor)
            return
        if isinstance(block, BlockView):
            end = compute_block_end(block)
            if state.after is None or end > state.after:  # not the resume cursor's block
                state.blocks_read += 1
            for event in select_block_events(block, event_filter, state.after):
                yield make_event_frame(event.to_json())
                last_frame = loop.time()
            state.height, state.after, state.cursor = state.height + 1, None, end
        if loop.time() - last_frame >= streams.heartbeat_s:
            yield make_heartbeat(state.cursor)
            last_frame = loop.time()
