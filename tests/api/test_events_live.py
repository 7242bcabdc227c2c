"""``GET /events`` on a live node (uvicorn, block loop): following new blocks as they
commit, the subscriber cap (typed 503) and its slots coming back, heartbeats whose
id is the cursor, and a shutdown that does not wait for open streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import httpx
import pytest
from sse_starlette import ServerSentEvent
from starlette.types import Message

from carchain.api.event_stream import (
    SEND_TIMEOUT_S,
    ChainEventResponse,
    EventStreams,
    StreamStart,
    generate_events,
)
from carchain.node.backend import BlockView, NodeBackend
from carchain.node.events import EventFilter
from carchain.node.server import SHUTDOWN_GRACE_S
from carchain.sim.embedded import EmbeddedNode
from tests.conftest import make_genesis
from tests.events_node import get_streams, register_live, run_live_node


@contextlib.contextmanager
def open_stream(url: str, **params: str) -> Iterator[Iterator[str]]:
    """Open a followed stream; yield its lines once the node sent the opening comment."""
    with httpx.stream("GET", f"{url}/events", params=params, timeout=20) as resp:
        assert resp.status_code == 200, resp.read()
        lines = resp.iter_lines()
        assert next(lines) == ": open"
        yield lines


def wait_until(condition: object, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def next_data(lines: Iterator[str]) -> dict[str, object]:
    for line in lines:
        if line.startswith("data: "):
            doc: dict[str, object] = json.loads(line[6:])
            return doc
    raise AssertionError("stream ended")


def test_follow_delivers_blocks_committed_after_the_stream_opened(tmp_path: Path) -> None:
    with run_live_node(tmp_path) as emb:
        old = register_live(emb.url, "saic", "saic:old")
        with open_stream(emb.url) as lines:  # follow, no from_height: from the next block
            res = register_live(emb.url, "geely", "geely:new")
            tx = next_data(lines)
            reg = next_data(lines)
    assert int(res["height"]) > int(old["height"])
    assert (tx["type"], tx["height"], tx["tx_hash"]) == ("tx", res["height"], res["hash"])
    assert reg["type"] == "vehicle_registered"
    assert reg["attributes"] == {"oem": "geely", "vehicle_id": "geely:new"}


def test_subscriber_cap_refuses_with_a_typed_503_and_frees_slots(tmp_path: Path) -> None:
    with run_live_node(tmp_path, max_subscribers=2) as emb:
        streams = get_streams(emb)
        with open_stream(emb.url), open_stream(emb.url):
            resp = httpx.get(f"{emb.url}/events", timeout=10)
            assert resp.status_code == 503
            assert resp.json()["error"] == {
                "code": "too_many_subscribers",
                "message": "the node serves as many event streams as it allows; retry later",
                "fields": {"limit": 2},
            }
            assert streams.open_count == 2
        wait_until(lambda: streams.open_count == 0)  # clients gone: slots released
        with open_stream(emb.url), open_stream(emb.url):
            assert streams.open_count == 2


def test_idle_stream_sends_heartbeats_carrying_the_cursor(tmp_path: Path) -> None:
    with run_live_node(tmp_path, heartbeat_s=0.2) as emb:
        res = register_live(emb.url, "saic", "saic:hb")
        height = int(res["height"])
        with open_stream(emb.url, from_height="1") as lines:
            seen: list[str] = []
            for line in lines:
                seen.append(line)
                if line == f"id: {height}:1:0":  # block ``height`` holds one transaction
                    break
    assert ": heartbeat" in seen
    assert f"id: {height}:0:1" in seen  # the registration's events came first


def test_stop_ends_open_streams_at_once(tmp_path: Path) -> None:
    emb = EmbeddedNode(tmp_path / "home", make_genesis())
    emb.start()
    try:
        with open_stream(emb.url) as lines:
            started = time.monotonic()
            emb.stop()
            assert time.monotonic() - started < SHUTDOWN_GRACE_S  # not the uvicorn backstop
            rest = list(lines)  # returns: the node ended the stream
            assert rest == ["retry: 1000", ""]  # the end of the opening frame, nothing more
    finally:
        emb.stop()


def test_server_shutdown_does_not_hang_on_a_stream_nobody_closes(tmp_path: Path) -> None:
    with run_live_node(tmp_path) as emb, open_stream(emb.url) as lines:
        server = emb._server
        assert server is not None
        started = time.monotonic()
        server.should_exit = True  # uvicorn alone: its graceful-shutdown bound cancels it
        thread = emb._thread
        assert thread is not None
        thread.join(SHUTDOWN_GRACE_S + 10)
        assert not thread.is_alive()
        assert time.monotonic() - started < SHUTDOWN_GRACE_S + 5
        with pytest.raises(httpx.HTTPError):
            list(lines)


def test_a_stream_per_thread_each_sees_every_event(tmp_path: Path) -> None:
    with run_live_node(tmp_path) as emb:
        got: list[list[str]] = [[], []]

        def follow(k: int, lines: Iterator[str]) -> None:
            while len(got[k]) < 4:
                got[k].append(str(next_data(lines)["id"]))

        with open_stream(emb.url, from_height="1") as a, open_stream(emb.url, from_height="1") as b:
            threads = [threading.Thread(target=follow, args=(k, s)) for k, s in enumerate((a, b))]
            for t in threads:
                t.start()
            register_live(emb.url, "saic", "saic:t1")
            register_live(emb.url, "geely", "geely:t1")
            for t in threads:
                t.join(20)
    assert got[0] == got[1] and len(got[0]) == 4
    assert got[0] == sorted(got[0], key=lambda i: tuple(int(x) for x in i.split(":")))


# The stream's loop against scripted backends: every pass waits or reads a block.


class FakeBackend:
    """A ``CommitWaiter`` backend at ``committed`` whose blocks ``readable`` exist; its
    ``wait_for_height`` returns at once (as a real one does for a committed height)."""

    def __init__(self, committed: int, readable: set[int]) -> None:
        self.committed = committed
        self.readable = readable
        self.status_calls = 0
        self.block_calls = 0

    def status(self) -> SimpleNamespace:
        self.status_calls += 1
        return SimpleNamespace(height=self.committed)

    def get_block_optional(self, height: int) -> BlockView | None:
        self.block_calls += 1
        if height not in self.readable:
            return None
        return BlockView(height, b"h", 1, b"p", b"t", b"a", b"v")

    async def wait_for_height(self, height: int, timeout_s: float) -> int:
        return self.committed


def collect_heartbeats(
    backend: FakeBackend, start: StreamStart, follow: bool, wanted: int, **limits: float
) -> tuple[list[ServerSentEvent], float]:
    """Run one stream until it sent ``wanted`` heartbeats (deadline 10 s); return its
    frames and how long that took."""
    streams = EventStreams(**limits)  # type: ignore[arg-type]

    async def run() -> tuple[list[ServerSentEvent], float]:
        loop = asyncio.get_running_loop()
        slot = streams.acquire()
        gen = generate_events(
            cast(NodeBackend, backend), EventFilter(), start, follow, streams, slot
        )
        frames: list[ServerSentEvent] = []
        began = loop.time()
        deadline = began + 10
        try:
            while sum(f.comment == "heartbeat" for f in frames) < wanted:
                left = deadline - loop.time()
                assert left > 0, f"no {wanted} heartbeats: {backend.block_calls} block reads"
                try:
                    frames.append(await asyncio.wait_for(anext(gen), left))
                except TimeoutError:
                    raise AssertionError(f"stuck: {backend.block_calls} block reads") from None
        finally:
            await gen.aclose()
            slot.release()
        return frames, loop.time() - began

    return asyncio.run(run())


def test_a_committed_block_not_readable_yet_is_polled_with_heartbeats_not_spun() -> None:
    backend = FakeBackend(committed=5, readable={1, 2})  # block 3 is committed, not readable
    frames, spent = collect_heartbeats(
        backend, StreamStart(1), follow=False, wanted=3, heartbeat_s=0.2, poll_s=0.05
    )
    beats = [f for f in frames if f.comment == "heartbeat"]
    assert {f.id for f in beats} == {"2:0:0"}  # the cursor: block 2 read in full
    misses = backend.block_calls - 2
    assert 1 <= misses <= spent / 0.05 + 2  # one read per poll interval, not a busy loop


def test_a_backend_whose_waiter_and_status_disagree_does_not_spin_a_follower() -> None:
    # status says 0 committed, the waiter returns at once: every pass reads no block.
    backend = FakeBackend(committed=0, readable=set())
    _, spent = collect_heartbeats(
        backend, StreamStart(1), follow=True, wanted=2, heartbeat_s=0.2, poll_s=0.05
    )
    assert backend.status_calls <= 2 * (spent / 0.05) + 4


def test_a_client_that_stops_reading_loses_its_stream_and_its_slot() -> None:
    async def run() -> int:
        streams = EventStreams()
        slot = streams.acquire()

        async def content() -> AsyncIterator[ServerSentEvent]:
            while True:
                yield ServerSentEvent("x")
                await asyncio.sleep(0)

        async def send(message: Message) -> None:
            if message["type"] == "http.response.body":
                await asyncio.Event().wait()  # the client never takes a byte

        async def receive() -> Message:
            await asyncio.Event().wait()  # and never hangs up
            return {"type": "http.disconnect"}

        response = ChainEventResponse(content(), slot, send_timeout_s=0.05)
        scope = {"type": "http", "method": "GET", "path": "/events", "headers": []}
        await asyncio.wait_for(response(scope, receive, send), 10)
        return streams.open_count

    assert asyncio.run(run()) == 0
    assert SEND_TIMEOUT_S == 30.0 and EventStreams().send_timeout_s == SEND_TIMEOUT_S
