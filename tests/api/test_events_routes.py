"""``GET /events``: every event of committed blocks with its ``H:I:E`` id, the filters,
resuming after an id or from a height with no gap and no duplicate, typed 4xx for
bad filters and cursors, and the documented OpenAPI answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from carchain.core.transactions import compute_tx_hash
from carchain.sdk.client import Client
from carchain.sdk.events import SseFrame, parse_sse
from tests.conftest import seeded_key
from tests.events_node import StepNode, run_step_node


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[StepNode]:
    """Block 1: three registrations (saic, geely, saic); block 2: one (geely)."""
    with run_step_node(tmp_path) as step:
        step.block(("saic", "saic:a"), ("geely", "geely:a"), ("saic", "saic:b"))
        step.block(("geely", "geely:b"))
        yield step


def events_of(frames: list[SseFrame]) -> list[dict[str, object]]:
    """Return the JSON events of the data frames (each frame's id is its event's id);
    a ``resume`` frame is no event."""
    out = []
    for f in frames:
        if f.data is None or f.event is not None:
            continue
        doc = json.loads(f.data)
        assert doc["id"] == f.id
        out.append(doc)
    return out


def ids(frames: list[SseFrame]) -> list[str]:
    return [str(e["id"]) for e in events_of(frames)]


def test_stream_carries_every_event_of_every_result_in_position_order(chain: StepNode) -> None:
    events = events_of(chain.frames())
    expected = []
    for height in (1, 2):
        block = chain.http.get(f"/blocks/{height}").json()
        for i, result in enumerate(block["results"]):
            for j, ev in enumerate(result["events"]):
                expected.append((f"{height}:{i}:{j}", ev["type"], ev["attributes"]))
    assert [(e["id"], e["type"], e["attributes"]) for e in events] == expected
    assert len(events) == 8  # four transactions, two events each: tx, vehicle_registered
    first = events[0]
    assert (first["height"], first["tx_index"], first["event_index"]) == (1, 0, 0)
    raw = chain.node.engine.get_block(1)
    assert raw is not None
    assert {e["tx_hash"] for e in events if e["height"] == 1} == {
        compute_tx_hash(t).hex() for t in raw.txs
    }
    assert all(e["time_ms"] == raw.header.time_ms for e in events if e["height"] == 1)


def test_several_events_of_one_transaction_share_its_hash_in_index_order(
    chain: StepNode,
) -> None:
    by_tx: dict[str, list[dict[str, object]]] = {}
    for e in events_of(chain.frames()):
        by_tx.setdefault(str(e["tx_hash"]), []).append(e)
    assert len(by_tx) == 4
    for evs in by_tx.values():
        assert [e["type"] for e in evs] == ["tx", "vehicle_registered"]
        assert [e["event_index"] for e in evs] == [0, 1]


def test_types_filter_keeps_only_the_named_types(chain: StepNode) -> None:
    events = events_of(chain.frames(types="vehicle_registered"))
    assert [e["attributes"]["vehicle_id"] for e in events] == [  # type: ignore[index]
        "saic:a",
        "geely:a",
        "saic:b",
        "geely:b",
    ]
    assert {e["type"] for e in events_of(chain.frames(types="tx,vehicle_registered"))} == {
        "tx",
        "vehicle_registered",
    }
    assert events_of(chain.frames(types="case_opened")) == []


def test_vehicle_filter_keeps_the_events_of_that_vehicle(chain: StepNode) -> None:
    assert ids(chain.frames(vehicle="saic:b")) == ["1:2:1"]
    assert ids(chain.frames(vehicle="saic:zzz")) == []


def test_member_filter_keeps_events_naming_or_signed_by_the_member(chain: StepNode) -> None:
    geely_key = seeded_key("geely").public_key.hex()
    events = events_of(chain.frames(member="geely"))
    assert ids(chain.frames(member="geely")) == ["1:1:0", "1:1:1", "2:0:0", "2:0:1"]
    for e in events:
        attrs = e["attributes"]
        assert attrs.get("signer") == geely_key or attrs.get("oem") == "geely"  # type: ignore[attr-defined]
    # Every criterion must hold: geely's tx events only.
    assert ids(chain.frames(member="geely", types="tx")) == ["1:1:0", "2:0:0"]
    assert ids(chain.frames(member="saic", vehicle="geely:a")) == []


def test_resume_after_last_event_id_has_no_gap_and_no_duplicate(chain: StepNode) -> None:
    every = ids(chain.frames())
    for k, last in enumerate(every):
        rest = ids(chain.frames(headers={"Last-Event-ID": last}))
        assert rest == every[k + 1 :], last
        assert every[: k + 1] + rest == every


def test_resume_from_height_and_the_header_wins_over_the_parameter(chain: StepNode) -> None:
    every = ids(chain.frames())
    assert ids(chain.frames(from_height=2)) == [i for i in every if i.startswith("2:")]
    assert ids(chain.frames(from_height=3)) == []
    got = ids(chain.frames(headers={"Last-Event-ID": "1:1:1"}, from_height=2))
    assert got == every[every.index("1:1:1") + 1 :]


def test_resume_after_a_block_cursor_skips_that_whole_block(chain: StepNode) -> None:
    # ``H:T:0`` (T = the block's tx count) is the cursor a heartbeat sends once H is read.
    assert ids(chain.frames(headers={"Last-Event-ID": "1:3:0"})) == ["2:0:0", "2:0:1"]


def test_new_blocks_after_a_resume_point_are_delivered_on_the_next_request(
    chain: StepNode,
) -> None:
    before = ids(chain.frames())
    chain.block(("saic", "saic:c"), ("geely", "geely:c"))
    after = ids(chain.frames(headers={"Last-Event-ID": before[-1]}))
    assert after == ["3:0:0", "3:0:1", "3:1:0", "3:1:1"]
    assert ids(chain.frames()) == before + after


def test_stream_opens_with_a_retry_hint_and_ends_when_caught_up(chain: StepNode) -> None:
    resp = chain.http.get("/events", params={"follow": "false"})
    assert resp.text.startswith(": open\r\nretry: 1000\r\n\r\n")
    assert resp.headers["cache-control"] == "no-store"
    assert chain.streams.open_count == 0  # the slot is released when the stream ends


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"types": "Vehicle_Registered"}, "types"),
        ({"types": "a,,b"}, "types"),
        ({"types": ",".join(f"t{i}" for i in range(33))}, "types"),
        ({"types": "x" * 65}, "types"),
        ({"vehicle": "no-oem-part"}, "vehicle"),
        ({"vehicle": "saic:bad id"}, "vehicle"),
        ({"member": "bad:member"}, "member"),
        ({"member": "x" * 65}, "member"),
        ({"from_height": "0"}, "from_height"),
        ({"from_height": "-5"}, "from_height"),
        ({"from_height": str(2**63)}, "from_height"),
    ],
)
def test_invalid_filter_is_a_typed_400_naming_the_filter(
    chain: StepNode, params: dict[str, str], name: str
) -> None:
    resp = chain.http.get("/events", params={"follow": "false", **params})
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert err["code"] == "invalid_event_filter"
    assert err["fields"]["name"] == name
    assert chain.streams.open_count == 0


@pytest.mark.parametrize(
    "cursor", ["1:2", "1:2:3:4", "a:b:c", "1:-1:0", "\u0661:0:0", "1:0:" + "9" * 20, "1 :0:0"]
)
def test_invalid_last_event_id_is_a_typed_400(chain: StepNode, cursor: str) -> None:
    header = {"Last-Event-ID": cursor.encode()}  # bytes: a non-ASCII digit goes as UTF-8
    resp = chain.http.get("/events", params={"follow": "false"}, headers=header)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "invalid_event_cursor"


def test_unknown_member_is_a_typed_404_and_bad_types_of_parameters_422(chain: StepNode) -> None:
    resp = chain.http.get("/events", params={"follow": "false", "member": "nobody"})
    assert resp.status_code == 404
    assert resp.json()["error"] == {
        "code": "not_found",
        "message": "no such member",
        "fields": {"member_id": "nobody"},
    }
    resp = chain.http.get("/events", params={"follow": "false", "from_height": "ten"})
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "bad_request"


def test_failed_transactions_have_no_events_but_keep_the_indexes(chain: StepNode) -> None:
    chain.submit_register("saic", "saic:d")
    chain.submit_register("saic", "saic:d")  # passes CheckTx, fails in the block
    chain.submit_register("geely", "geely:d")
    block = chain.node.produce_block()
    assert block is not None and [r.code != 0 for r in block.results] == [False, True, False]
    assert ids(chain.frames(from_height=3)) == ["3:0:0", "3:0:1", "3:2:0", "3:2:1"]


def test_openapi_documents_the_event_stream_and_its_errors(chain: StepNode) -> None:
    op = chain.http.get("/openapi.json").json()["paths"]["/events"]["get"]
    ok = op["responses"]["200"]["content"]["text/event-stream"]
    data = ok["itemSchema"]["properties"]["data"]
    assert data["contentSchema"] == {"$ref": "#/components/schemas/ChainEventModel"}
    for status in ("400", "404", "422", "503"):
        schema = op["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorDocument"}
    params = {p["name"] for p in op["parameters"]}
    assert {"types", "vehicle", "member", "from_height", "follow", "last-event-id"} <= params


@pytest.mark.parametrize("cursor", ["0:0:0", "0:5:2", "9223372036854775808:0:0"])
def test_a_cursor_height_outside_1_to_2_63_is_a_typed_400_not_a_spin(
    chain: StepNode, cursor: str
) -> None:
    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=chain.http.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as http:
            headers = {"Last-Event-ID": cursor}
            return await http.get("/events", params={"follow": "false"}, headers=headers)

    resp = asyncio.run(asyncio.wait_for(get(), 10))  # a stream at height 0 never answers
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "invalid_event_cursor"
    assert chain.streams.open_count == 0


def grow(chain: StepNode, blocks: int) -> None:
    """Add ``blocks`` blocks of one registration each to the chain."""
    for k in range(blocks):
        chain.block(("saic" if k % 2 else "geely", f"{'saic' if k % 2 else 'geely'}:g{k}"))


def test_a_stream_reads_its_block_budget_then_ends_with_its_cursor(chain: StepNode) -> None:
    grow(chain, 8)  # ten blocks
    chain.streams.block_budget = 3
    frames = chain.frames(from_height=1, types="nomatch")
    assert frames == [SseFrame("3:1:0", '{"reason":"block_budget"}', "resume")]
    frames = chain.frames(headers={"Last-Event-ID": "3:1:0"}, types="nomatch")
    assert frames == [SseFrame("6:1:0", '{"reason":"block_budget"}', "resume")]
    done = chain.frames(headers={"Last-Event-ID": "9:1:0"}, types="nomatch")
    assert done == [SseFrame("10:1:0", '{"reason":"caught_up"}', "end")]  # complete
    frames = chain.frames(from_height=1)  # the events of blocks 1-3, then the cursor
    assert ids(frames) == [f"1:{i}:{e}" for i in range(3) for e in (0, 1)] + [
        f"{h}:0:{e}" for h in (2, 3) for e in (0, 1)
    ]
    assert frames[-1] == SseFrame("3:1:0", '{"reason":"block_budget"}', "resume")


def test_client_events_continues_across_block_budgets_each_event_once(chain: StepNode) -> None:
    grow(chain, 8)
    chain.streams.block_budget = 1000
    every = ids(chain.frames(from_height=1))
    assert len(every) == 2 * (4 + 8)
    chain.streams.block_budget = 3
    with Client(str(chain.http.base_url)) as c:
        c._http = chain.http  # the SDK over the in-process app
        got = [e.id for e in c.events(from_height=1, follow=False)]
        vids = [
            e.attributes["vehicle_id"] for e in c.events(types=["vehicle_registered"], follow=False)
        ]
    assert got == every
    assert len(vids) == 12 and len(set(vids)) == 12


def test_a_stream_past_its_lifetime_ends_with_its_cursor(chain: StepNode) -> None:
    chain.streams.lifetime_s = 0.0
    resume = [SseFrame("1:1:1", '{"reason":"lifetime"}', "resume")]
    assert chain.frames(headers={"Last-Event-ID": "1:1:1"}) == resume
    # Following from the next block: the cursor lies after every event of block 2.
    resp = chain.http.get("/events")
    frames = list(parse_sse(iter(resp.text.splitlines())))
    assert frames == [SseFrame(f"2:{2**63 - 1}:0", '{"reason":"lifetime"}', "resume")]
    assert ids(chain.frames(headers={"Last-Event-ID": frames[0].id or ""})) == []
    assert chain.streams.open_count == 0
