"""``Client.events``: the SSE parser, the typed errors of bad filters, and resuming
with ``Last-Event-ID`` after a dropped connection or a stream the node ended, with
no gap and no duplicate (against a live node and a scripted server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from carchain.errors import InvalidEventFilter, NodeUnavailable, NotFound, TooManySubscribers
from carchain.sdk.client import Client
from carchain.sdk.events import SseFrame, iterate_events, iterate_lines, parse_sse
from tests.events_node import get_streams, register_live, run_live_node


def test_parse_sse_follows_the_event_stream_rules() -> None:
    lines = [": comment", "id: 1:0:0", "data: a", "data: b", "", "", "id: 2:1:0", ""]
    lines += ["data:x", "event: ignored", "retry: 5", "", "id: bad\0id", "data: y", ""]
    assert list(parse_sse(iter(lines))) == [
        SseFrame("1:0:0", "a\nb"),
        SseFrame("2:1:0", None),  # an id-only frame: a cursor
        SseFrame(None, "x", "ignored"),
        SseFrame(None, "y"),  # an id with NUL is ignored, as browsers do
    ]


def test_follow_resumes_after_the_node_ends_the_stream_without_gap_or_dup(
    tmp_path: Path,
) -> None:
    with run_live_node(tmp_path) as emb, Client(emb.url) as c:
        for vid in ("saic:r1", "saic:r2", "geely:r1"):
            register_live(emb.url, vid.split(":")[0], vid)
        stream = c.events(from_height=1, follow=True)
        got = [next(stream).id for _ in range(3)]
        assert get_streams(emb).end_open_streams() == 1  # forced reconnect
        register_live(emb.url, "geely", "geely:r2")
        register_live(emb.url, "saic", "saic:r3")
        every = [e.id for e in c.events(from_height=1, follow=False)]
        assert len(every) == 10  # five registrations, two events each
        got += [next(stream).id for _ in range(len(every) - 3)]
        stream.close()
    assert got == every


def test_filters_reach_the_node_and_bad_ones_raise_typed_errors(tmp_path: Path) -> None:
    with run_live_node(tmp_path) as emb, Client(emb.url) as c:
        register_live(emb.url, "saic", "saic:f1")
        res = register_live(emb.url, "geely", "geely:f1")
        events = list(c.events(types=["vehicle_registered"], member="geely", follow=False))
        assert [(e.type, e.attributes["vehicle_id"], e.height) for e in events] == [
            ("vehicle_registered", "geely:f1", res["height"])
        ]
        assert [e.type for e in c.events(vehicle="saic:f1", follow=False)] == ["vehicle_registered"]
        h = int(res["height"])
        assert {e.height for e in c.events(from_height=h, follow=False)} == {h}
        with pytest.raises(InvalidEventFilter) as info:
            list(c.events(types=["NotAType"], follow=False))
        assert info.value.name == "types"
        with pytest.raises(NotFound):
            next(c.events(member="nobody"))


def scripted(bodies: list[bytes | Exception], seen: list[httpx.Request]) -> httpx.Client:
    """Return a client whose successive ``/events`` requests get ``bodies`` in turn
    (an exception: the connection drops after the bytes before it)."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = bodies.pop(0)

        def chunks() -> Iterator[bytes]:
            if isinstance(body, Exception):
                yield b"id: 1:0:0\ndata: " + EV.replace(b"ID", b"1:0:0") + b"\n\n"
                raise body
            yield body

        return httpx.Response(200, content=chunks(), headers={"content-type": "text/event-stream"})

    return httpx.Client(base_url="http://node", transport=httpx.MockTransport(handler))


EV = (
    b'{"id":"ID","height":1,"tx_index":0,"event_index":0,"tx_hash":"aa","time_ms":1,'
    b'"type":"tx","attributes":{}}'
)


END = b'id: 9:1:0\nevent: end\ndata: {"reason":"caught_up"}\n\n'


def frame(event_id: str) -> bytes:
    h, i, e = event_id.split(":")
    doc = EV.replace(b'"ID"', f'"{event_id}"'.encode())
    doc = doc.replace(b'"height":1', f'"height":{h}'.encode())
    doc = doc.replace(b'"tx_index":0', f'"tx_index":{i}'.encode())
    doc = doc.replace(b'"event_index":0', f'"event_index":{e}'.encode())
    return f"id: {event_id}\n".encode() + b"data: " + doc + b"\n\n"


def test_dropped_connection_resumes_with_last_event_id_and_drops_replays() -> None:
    seen: list[httpx.Request] = []
    bodies: list[bytes | Exception] = [
        httpx.ReadError("connection reset"),
        # The node replays 1:0:0 (a buggy server): dropped; a heartbeat cursor moves on.
        frame("1:0:0") + frame("1:0:1") + b": heartbeat\nid: 1:1:0\n\n",
        frame("2:0:0"),
    ]
    with scripted(bodies, seen) as http:
        stream = iterate_events(http, {"types": "tx"}, follow=True, max_retries=1)
        got = [next(stream).id for _ in range(3)]
        stream.close()
    assert got == ["1:0:0", "1:0:1", "2:0:0"]
    assert [r.headers.get("last-event-id") for r in seen] == [None, "1:0:0", "1:1:0"]
    assert all(r.url.params["types"] == "tx" for r in seen)


def test_a_node_that_keeps_failing_is_reported_after_the_retries() -> None:
    seen: list[httpx.Request] = []
    bodies: list[bytes | Exception] = [httpx.ReadError("reset") for _ in range(3)]
    with scripted(bodies, seen) as http:
        stream = iterate_events(http, {}, follow=True, max_retries=1)
        assert next(stream).id == "1:0:0"
        with pytest.raises(NodeUnavailable):
            next(stream)
    # The second connection delivered nothing new (1:0:0 again: dropped): a failure too.
    assert [r.headers.get("last-event-id") for r in seen] == [None, "1:0:0"]


def test_a_busy_node_is_retried_then_reported() -> None:
    busy = httpx.Response(503, json={"error": {"code": "too_many_subscribers", "message": "m"}})
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return busy

    transport = httpx.MockTransport(handler)
    with (
        httpx.Client(base_url="http://n", transport=transport) as http,
        pytest.raises(TooManySubscribers),
    ):
        list(iterate_events(http, {}, follow=False, max_retries=2))
    assert len(calls) == 3


def test_an_event_whose_frame_id_is_not_its_id_is_refused() -> None:
    seen: list[httpx.Request] = []
    bad = frame("1:0:0").replace(b"id: 1:0:0", b"id: 1:0:5")
    with scripted([bad], seen) as http, pytest.raises(NodeUnavailable):
        list(iterate_events(http, {}, follow=False))


def test_a_resume_frame_is_continued_after_its_cursor_even_without_follow() -> None:
    seen: list[httpx.Request] = []
    resume = b'id: 1:3:0\nevent: resume\ndata: {"reason":"block_budget"}\n\n'
    bodies: list[bytes | Exception] = [
        frame("1:0:0") + resume,
        frame("2:0:0") + b'event: resume\ndata: {"reason":"lifetime"}\n\n' + frame("2:0:1"),
        frame("2:0:0") + frame("3:0:0") + END,  # caught up: the stream ends, so does the iterator
    ]
    with scripted(bodies, seen) as http:
        got = [e.id for e in iterate_events(http, {}, follow=False, max_retries=0)]
    assert got == ["1:0:0", "2:0:0", "3:0:0"]
    assert [r.headers.get("last-event-id") for r in seen] == [None, "1:3:0", "2:0:0"]
    assert not bodies


def test_a_follow_false_stream_cut_short_is_resumed_not_taken_as_complete() -> None:
    seen: list[httpx.Request] = []
    bodies: list[bytes | Exception] = [
        frame("1:0:0"),  # ends cleanly but without ``end``: a node shutting down mid-stream
        b": heartbeat\nid: 1:1:0\n\n",  # again without ``end``: no progress but the cursor
        frame("2:0:0") + END,
    ]
    with scripted(bodies, seen) as http:
        got = [e.id for e in iterate_events(http, {}, follow=False, max_retries=1)]
    assert got == ["1:0:0", "2:0:0"]
    assert [r.headers.get("last-event-id") for r in seen] == [None, "1:0:0", "1:1:0"]


def test_a_follow_false_stream_that_never_completes_is_reported() -> None:
    seen: list[httpx.Request] = []
    bodies: list[bytes | Exception] = [frame("1:0:0"), b"", b""]
    with scripted(bodies, seen) as http, pytest.raises(NodeUnavailable):
        list(iterate_events(http, {}, follow=False, max_retries=1))
    assert len(seen) == 3


def test_a_node_that_keeps_sending_resume_without_progress_is_reported() -> None:
    seen: list[httpx.Request] = []
    resume = b'id: 1:3:0\nevent: resume\ndata: {"reason":"lifetime"}\n\n'
    bodies: list[bytes | Exception] = [resume, resume, resume]
    with scripted(bodies, seen) as http, pytest.raises(NodeUnavailable):
        list(iterate_events(http, {}, follow=False, max_retries=1))
    assert len(seen) == 3


def test_lines_split_on_every_sse_line_end_across_chunks() -> None:
    chunks = ["id: 1\r", "\ndata: a\rdata: b\n", "\n", "data: c\r"]
    assert list(iterate_lines(iter(chunks))) == ["id: 1", "data: a", "data: b", "", "data: c"]


def endless(prefix: bytes, piece: bytes) -> httpx.Client:
    """Return a client whose ``/events`` answer is ``prefix`` then ``piece`` forever."""

    def handler(request: httpx.Request) -> httpx.Response:
        def chunks() -> Iterator[bytes]:
            yield prefix
            while True:
                yield piece

        return httpx.Response(200, content=chunks(), headers={"content-type": "text/event-stream"})

    return httpx.Client(base_url="http://node", transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("piece", "what"),
    [
        (b"x" * 65536, "line"),  # one line that never ends
        (b"data: " + b"y" * 4096 + b"\n", "frame"),  # one frame whose data never ends
    ],
)
def test_a_stream_that_never_ends_its_line_or_frame_is_refused(piece: bytes, what: str) -> None:
    # A hostile node's stream grew the client's buffer without bound (httpx's iter_lines
    # keeps a line until its end; the parser kept a frame's data lines until a blank one).
    with (
        endless(frame("1:0:0") + b"data: ", piece) as http,
        pytest.raises(NodeUnavailable, match=f"event-stream {what} over"),
    ):
        list(iterate_events(http, {}, follow=True, max_retries=0))


def test_an_event_number_too_large_for_an_integer_is_refused() -> None:
    # JSON's 1e400 is an infinite float: int() raised OverflowError, not a typed error.
    seen: list[httpx.Request] = []
    bad = frame("1:0:0").replace(b'"time_ms":1', b'"time_ms":1e400')
    with scripted([bad], seen) as http, pytest.raises(NodeUnavailable, match="unreadable"):
        list(iterate_events(http, {}, follow=False))
