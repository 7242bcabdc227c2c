"""The explorer read API against a solo node holding a real demo chain (members admitted
by governance, a fleet registered, sold, re-keyed and revoked, gateways anchoring):
every answer is checked against the blocks and state it summarises, and bad input gets
a typed 400/404/422, never a 500."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from carchain.api import explorer_anchors, explorer_registry
from carchain.api.app import create_app
from carchain.core import governance as gov
from carchain.core.registry import TX_TYPES
from carchain.core.validators import compute_validator_address
from carchain.node.home import NodeHome
from carchain.node.server import open_solo_node
from carchain.node.solo_node import SoloNode
from carchain.sdk.transactions import build_tx
from carchain.sim.demo import run_demo
from carchain.storage.database import Database
from tests.api.test_api import assert_error
from tests.conftest import CHAIN_ID, FOUNDERS, make_genesis, seeded_key, validator_key

DEMO_VEHICLES = 44  # > 40: the demo's data plane drives (and its gateways anchor)


@dataclass
class Explorer:
    """A TestClient on a solo node opened over a finished demo's home."""

    node: SoloNode
    http: TestClient

    def get(self, path: str, expect: int = 200, **params: Any) -> Any:
        resp = self.http.get(path, params=params)
        assert resp.status_code == expect, resp.text
        return resp.json()

    def blocks(self) -> list[dict[str, Any]]:
        height = self.get("/status")["height"]
        return [self.get(f"/blocks/{h}") for h in range(1, height + 1)]

    def all_vehicles(self, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        after = ""
        while True:
            page = self.get("/vehicles", limit=7, after=after, **params)
            out += page["vehicles"]
            if page["next_after"] is None:
                return out
            after = page["next_after"]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("explorer-demo")
    run_demo(
        Console(file=io.StringIO(), width=200),
        vehicles=DEMO_VEHICLES,
        home=root / "node",
        bundle_dir=root / "proof",
        data_dir=root / "plane",
    )
    return root / "node"


@pytest.fixture(scope="module")
def solo(demo_home: Path) -> Iterator[SoloNode]:
    node = open_solo_node(NodeHome(demo_home))
    try:
        yield node
    finally:
        node.app.close()


@pytest.fixture
def ex(solo: SoloNode) -> Iterator[Explorer]:
    """A fresh app (its own caches) over the demo node; no block loop: the chain is still."""
    with TestClient(create_app(solo), raise_server_exceptions=False) as http:
        yield Explorer(solo, http)


def _anchor_txs(ex: Explorer) -> list[dict[str, Any]]:
    """Every committed, successful anchor.submit, found by reading every block."""
    return [
        d
        for b in ex.blocks()
        for d in b["decoded_txs"]
        if d["type"] == "anchor.submit" and d["result"]["code"] == 0
    ]


# --- blocks and decoded transactions --------------------------------------------------


def test_blocks_pages_cover_the_chain_newest_first(ex: Explorer) -> None:
    height = ex.get("/status")["height"]
    seen: list[dict[str, Any]] = []
    page = ex.get("/blocks", limit=7)
    while True:
        assert len(page["blocks"]) <= 7
        seen += page["blocks"]
        if page["next_before"] is None:
            break
        assert page["next_before"] == page["blocks"][-1]["height"]
        page = ex.get("/blocks", limit=7, before=page["next_before"])
    assert [b["height"] for b in seen] == list(range(height, 0, -1))
    for item in seen[:10]:
        full = ex.get(f"/blocks/{item['height']}")
        assert (item["hash"], item["time_ms"], item["proposer"]) == (
            full["hash"],
            full["time_ms"],
            full["proposer"],
        )
        assert item["tx_count"] == len(full["txs"])
    assert len(ex.get("/blocks")["blocks"]) == min(20, height)
    assert ex.get("/blocks", before=1) == {"blocks": [], "next_before": None}
    far = ex.get("/blocks", before=2**62, limit=1)
    assert [b["height"] for b in far["blocks"]] == [height]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": -1}, {"before": 0}, {"before": "x"},
     {"before": 2**63}, {"limit": "ten"}],
)  # fmt: skip
def test_invalid_block_page_is_422(ex: Explorer, params: dict[str, Any]) -> None:
    assert_error(ex.http.get("/blocks", params=params), 422, "bad_request")


def test_decoded_txs_match_the_raw_block(ex: Explorer) -> None:
    members = {m["member_id"]: m for m in ex.get("/members")["members"]}
    kinds = set()
    failed = 0
    for b in ex.blocks():
        assert len(b["decoded_txs"]) == len(b["txs"])
        rows = zip(b["txs"], b["results"], b["decoded_txs"], strict=True)
        for i, (raw, res, d) in enumerate(rows):
            assert d["hash"] == hashlib.sha256(base64.b64decode(raw)).hexdigest()
            assert (d["index"], d["height"]) == (i, b["height"])
            assert d["type"] in TX_TYPES and isinstance(d["body"], dict)
            assert len(bytes.fromhex(d["signer"])) == 32 and d["nonce"] >= 1
            assert d["result"]["code"] == res["code"]
            assert d["result"]["error_code"] == (res["error_code"] or None)
            assert d["result"]["events"] == res["events"]
            if d["signer_member"] is not None:
                m = members[d["signer_member"]]
                assert (m["public_key"], m["name"]) == (d["signer"], d["signer_name"])
            else:
                assert d["signer_name"] is None
            failed += d["result"]["code"] != 0
            kinds.add(d["type"])
            if d["type"] == "vehicle.register" and d["result"]["code"] == 0:
                event = next(e for e in res["events"] if e["type"] == "vehicle_registered")
                assert d["body"]["vehicle_id"] == event["attributes"]["vehicle_id"]
                assert "vin" not in d["body"] and len(d["body"]["vin_commitment"]) == 64
    assert {"governance.propose", "vehicle.register", "anchor.submit"} <= kinds
    assert failed >= 1  # the demo's forbidden cross-OEM revocation is in a block, failed


def test_tx_status_carries_the_decoded_tx(ex: Explorer) -> None:
    block = next(b for b in ex.blocks() if len(b["txs"]) > 1)
    for d in block["decoded_txs"]:
        doc = ex.get(f"/txs/{d['hash']}")
        assert doc["state"] == "committed"
        assert doc["decoded"] == d
    unknown = ex.http.get(f"/txs/{'ab' * 32}")
    assert unknown.status_code == 404 and "decoded" not in unknown.json()


# --- overview -----------------------------------------------------------------------


def test_overview_matches_blocks_and_state(ex: Explorer) -> None:
    ov = ex.get("/overview")
    status = ex.get("/status")
    assert (ov["chain_id"], ov["height"]) == (status["chain_id"], status["height"])
    assert ov["latest_block_time_ms"] == status["latest_block_time_ms"]
    assert ov["mempool_size"] == status["mempool_size"]
    blocks = ex.blocks()
    recent = blocks[-50:]
    assert ov["throughput"] == [
        {"height": b["height"], "time_ms": b["time_ms"], "txs": len(b["txs"])} for b in recent
    ]
    window = blocks[-51:]
    want = (window[-1]["time_ms"] - window[0]["time_ms"]) / (len(window) - 1)
    assert ov["block_interval_ms"] == pytest.approx(want)
    members = ex.get("/members")["members"]
    assert ov["counts"] == {
        "members": sum(1 for m in members if m["status"] == "active"),
        "vehicles": len(ex.all_vehicles()),
        "proposals_open": 0,
        "anchors": len(_anchor_txs(ex)),
    }
    assert ov["counts"]["vehicles"] == DEMO_VEHICLES and ov["counts_capped"] == []
    assert ov["validators"] == []  # the demo's founders hold no validator key


def test_overview_vehicle_count_names_its_bound(
    ex: Explorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carchain.api import explorer_chain

    monkeypatch.setattr(explorer_chain, "VEHICLE_COUNT_CAP", 10)
    monkeypatch.setattr(explorer_chain, "_VEHICLE_COUNT_PAGE", 5)
    ov = ex.get("/overview")
    assert ov["counts"]["vehicles"] == 10 and ov["counts_capped"] == ["vehicles"]


def test_overview_names_validators_and_counts_open_proposals(tmp_path: Path) -> None:
    db = Database(tmp_path / "node.db")
    node = SoloNode(db, state_versions=100)
    node.app.init_chain(make_genesis())
    try:
        with TestClient(create_app(node), raise_server_exceptions=False) as http:
            ov = http.get("/overview").json()
            assert ov["block_interval_ms"] is None and ov["throughput"] == []
            founders = [(mid, name, power) for mid, name, _, power in FOUNDERS if power]
            assert founders
            want = sorted(
                (compute_validator_address(validator_key(mid)).hex(), power, mid, name)
                for mid, name, power in founders
            )
            got = [(v["address"], v["power"], v["member_id"], v["name"]) for v in ov["validators"]]
            assert got == want
            key = seeded_key("miit")
            assert node.engine.submit(
                build_tx(CHAIN_ID, key, 1, gov.Propose(gov.SuspendMember("bosch")))
            ).ok
            node.produce_block()
            ov = http.get("/overview").json()
            assert ov["counts"]["proposals_open"] == 1 and ov["height"] == 1
            assert ov["block_interval_ms"] is None  # one block: no interval yet
            page = http.get("/proposals", params={"status": "open"}).json()
            assert [p["id"] for p in page["proposals"]] == [1]
            assert page["proposals"][0]["votes"] == [
                {"member_id": "miit", "name": page["proposals"][0]["proposer_name"],
                 "vote": "yes", "height": 1}
            ]  # fmt: skip
            assert http.get("/proposals", params={"status": "passed"}).json()["proposals"] == []
            assert http.get("/anchors/summary").json() == {"gateways": []}
            assert http.get("/anchors").json() == {"anchors": [], "next_before": None}
    finally:
        db.close()


# --- proposals ------------------------------------------------------------------------


def test_proposals_list_is_the_item_of_each_proposal(ex: Explorer) -> None:
    listing = ex.get("/proposals")
    ids = [p["id"] for p in listing["proposals"]]
    assert ids and ids == sorted(ids, reverse=True) and ids[-1] == 1
    assert listing["next_before"] is None
    members = {m["member_id"]: m["name"] for m in ex.get("/members")["members"]}
    for p in listing["proposals"]:
        assert ex.get(f"/proposals/{p['id']}") == p
        assert p["kind"] == p["body"]["type"] == p["action"]["type"]
        assert p["proposer_name"] == members[p["proposer"]]
        votes = [(v["member_id"], v["vote"]) for v in p["votes"]]
        assert votes == [(m, "yes") for m in p["yes"]] + [(m, "no") for m in p["no"]]
        assert all(v["name"] == members[v["member_id"]] for v in p["votes"])
        assert p["votes"][0]["height"] == p["created_height"]
    assert [p["id"] for p in ex.get("/proposals", status="passed")["proposals"]] == [
        p["id"] for p in listing["proposals"] if p["status"] == "executed"
    ]
    assert ex.get("/proposals", status="open")["proposals"] == []
    one = ex.get("/proposals", limit=1, before=ids[0])
    assert [p["id"] for p in one["proposals"]] == ids[1:2]


def test_proposal_scan_is_bounded_and_resumable(
    ex: Explorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = ex.get("/proposals")["proposals"][0]["id"]
    monkeypatch.setattr(explorer_registry, "MAX_PROPOSAL_SCAN", 1)
    page = ex.get("/proposals", status="rejected")
    assert page == {"proposals": [], "next_before": total}  # one id examined, not all
    ids = []
    page = ex.get("/proposals")
    while True:
        ids += [p["id"] for p in page["proposals"]]
        if page["next_before"] is None:
            break
        page = ex.get("/proposals", before=page["next_before"])
    assert ids == list(range(total, 0, -1))


@pytest.mark.parametrize(
    "params", [{"status": "done"}, {"limit": 0}, {"limit": 101}, {"before": 0}]
)
def test_invalid_proposal_page_is_422(ex: Explorer, params: dict[str, Any]) -> None:
    assert_error(ex.http.get("/proposals", params=params), 422, "bad_request")


def test_unknown_proposal_is_404(ex: Explorer) -> None:
    assert_error(ex.http.get("/proposals/999"), 404, "not_found")
    assert_error(ex.http.get("/proposals/abc"), 422, "bad_request")


# --- anchors --------------------------------------------------------------------------


def test_anchor_pages_list_every_anchor_tx_without_splitting_a_block(ex: Explorer) -> None:
    txs = _anchor_txs(ex)
    want = sorted(((d["height"], d["signer_member"], d["body"]["seq"]) for d in txs), reverse=True)
    heights = [h for h, *_ in want]
    assert len(set(heights)) < len(heights), "the demo anchors several gateways in one block"
    seen: list[dict[str, Any]] = []
    page = ex.get("/anchors", limit=2)
    pages = [page]
    while page["next_before"] is not None:
        page = ex.get("/anchors", limit=2, before=page["next_before"])
        pages.append(page)
    for p in pages:
        seen += p["anchors"]
    page_heights = [{a["height"] for a in p["anchors"]} for p in pages]
    for i, hs in enumerate(page_heights):  # no height on two pages
        assert all(not hs & other for other in page_heights[i + 1 :])
    got = [(a["height"], a["gateway"], a["seq"]) for a in seen]
    assert sorted(got, reverse=True) == want
    assert [a["height"] for a in seen] == sorted((a["height"] for a in seen), reverse=True)
    by_hash = {(d["signer_member"], d["body"]["seq"]): d for d in txs}
    members = {m["member_id"]: m["name"] for m in ex.get("/members")["members"]}
    for a in seen:
        body = by_hash[(a["gateway"], a["seq"])]["body"]
        assert (a["batches"], a["records"], a["root"]) == (
            body["batch_count"],
            body["record_count"],
            body["root"],
        )
        assert a["gateway_name"] == members[a["gateway"]]


def test_anchors_of_one_gateway(ex: Explorer) -> None:
    txs = _anchor_txs(ex)
    gateway = max({d["signer_member"] for d in txs}, key=lambda g: sum(
        d["signer_member"] == g for d in txs))  # fmt: skip
    mine = sorted((d["height"] for d in txs if d["signer_member"] == gateway), reverse=True)
    first = ex.get("/anchors", gateway=gateway, limit=1)
    assert [a["height"] for a in first["anchors"]] == mine[:1]
    assert first["next_before"] == mine[0]
    rest = ex.get("/anchors", gateway=gateway, before=first["next_before"])
    assert [a["height"] for a in rest["anchors"]] == mine[1:]
    assert rest["next_before"] is None
    assert ex.get("/anchors", gateway="miit") == {"anchors": [], "next_before": None}
    below = ex.get("/anchors", gateway=gateway, before=mine[-1])
    assert below == {"anchors": [], "next_before": None}


@pytest.mark.parametrize(
    ("params", "status"),
    [({"gateway": "no-such-oem"}, 404), ({"gateway": "x" * 65}, 422), ({"gateway": ""}, 422),
     ({"limit": 0}, 422), ({"limit": 101}, 422), ({"before": -3}, 422)],
)  # fmt: skip
def test_invalid_anchor_page(ex: Explorer, params: dict[str, Any], status: int) -> None:
    code = "not_found" if status == 404 else "bad_request"
    assert_error(ex.http.get("/anchors", params=params), status, code)


def test_anchor_summary_sums_every_anchor(ex: Explorer) -> None:
    txs = _anchor_txs(ex)
    summary = ex.get("/anchors/summary")["gateways"]
    assert sorted(g["gateway"] for g in summary) == sorted({d["signer_member"] for d in txs})
    for g in summary:
        mine = sorted((d for d in txs if d["signer_member"] == g["gateway"]),
                      key=lambda d: d["height"])  # fmt: skip
        assert g["anchors"] == len(mine) and g["complete"]
        assert g["batches"] == sum(d["body"]["batch_count"] for d in mine)
        assert g["records"] == sum(d["body"]["record_count"] for d in mine)
        assert [p["height"] for p in g["series"]] == [d["height"] for d in mine]
        assert (g["series"][-1]["batches"], g["series"][-1]["records"]) == (
            g["batches"],
            g["records"],
        )
    assert ex.get("/anchors/summary")["gateways"] == summary  # a second read adds nothing


def test_anchor_summary_catches_up_in_bounded_steps(
    ex: Explorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = {g["gateway"]: g for g in ex.get("/anchors/summary")["gateways"]}
    with TestClient(create_app(ex.node), raise_server_exceptions=False) as http:
        monkeypatch.setattr(explorer_anchors, "MAX_CATCHUP", 1)
        first = {g["gateway"]: g for g in http.get("/anchors/summary").json()["gateways"]}
        busy = [g for g in full.values() if g["anchors"] > 1]
        assert busy
        for g in busy:
            assert not first[g["gateway"]]["complete"]
            assert first[g["gateway"]]["batches"] < g["batches"]
        for _ in range(max(g["anchors"] for g in full.values())):
            last = {g["gateway"]: g for g in http.get("/anchors/summary").json()["gateways"]}
        assert last == full


def test_series_is_thinned_to_its_bound() -> None:
    points = [(h, h * 10, h, h * 2) for h in range(1, 1001)]
    series = explorer_anchors.compute_series(points)
    assert len(series) == explorer_anchors.MAX_SERIES
    assert series[0]["height"] == 1 and series[-1]["height"] == 1000
    heights = [p["height"] for p in series]
    assert heights == sorted(set(heights))


# --- vehicles -------------------------------------------------------------------------


def test_vehicles_filtered_by_owner_and_oem(ex: Explorer) -> None:
    every = ex.all_vehicles()
    assert len(every) == DEMO_VEHICLES
    members = {m["member_id"]: m["name"] for m in ex.get("/members")["members"]}
    for v in every:
        assert v["oem_name"] == members[v["oem"]]
        assert {"vehicle_id", "oem", "owner", "registered_height"} <= v.keys()
    owner = every[5]["owner"]
    assert ex.all_vehicles(owner=owner) == [v for v in every if v["owner"] == owner]
    assert ex.all_vehicles(owner=owner.upper()) == [v for v in every if v["owner"] == owner]
    oem = every[0]["oem"]
    assert ex.all_vehicles(oem=oem) == [v for v in every if v["oem"] == oem]
    assert ex.get("/vehicles", owner="00" * 32) == {"vehicles": [], "next_after": None}
    assert ex.get("/vehicles", oem="nobody")["vehicles"] == []


def test_owner_filter_scans_a_bounded_window(ex: Explorer, monkeypatch: pytest.MonkeyPatch) -> None:
    every = ex.all_vehicles()
    owner = every[-1]["owner"]
    monkeypatch.setattr(explorer_registry, "MAX_VEHICLE_SCAN", 4)
    first = ex.get("/vehicles", owner=owner)
    assert first["vehicles"] == [v for v in every[:4] if v["owner"] == owner]
    assert first["next_after"] == every[3]["vehicle_id"]
    assert ex.all_vehicles(owner=owner) == [v for v in every if v["owner"] == owner]


@pytest.mark.parametrize("owner", ["zz", "ab" * 31, "ab" * 33 + "a"])
def test_invalid_owner_is_400_or_422(ex: Explorer, owner: str) -> None:
    resp = ex.http.get("/vehicles", params={"owner": owner})
    assert resp.status_code in (400, 422), resp.text
    assert resp.json()["error"]["code"] == "bad_request"


# --- search ---------------------------------------------------------------------------


def test_search_finds_each_kind(ex: Explorer) -> None:
    height = ex.get("/status")["height"]
    assert ex.get("/search", q=str(height)) == {
        "kind": "block",
        "id": str(height),
        "path": f"/blocks/{height}",
    }
    d = ex.get(f"/blocks/{height}")["decoded_txs"][0]
    for q in (d["hash"], d["hash"].upper(), "0x" + d["hash"]):
        hit = ex.get("/search", q=q)
        assert hit == {"kind": "tx", "id": d["hash"], "path": f"/txs/{d['hash']}"}
        assert ex.get(hit["path"])["state"] == "committed"
    member = ex.get("/members")["members"][0]
    for q in (member["member_id"], f"  {member['member_id']} ", member["public_key"]):
        hit = ex.get("/search", q=q)
        assert (hit["kind"], hit["id"]) == ("member", member["member_id"])
        assert ex.get(hit["path"])["member_id"] == member["member_id"]
    vehicle = ex.all_vehicles()[0]
    for q in (vehicle["vehicle_id"], vehicle["public_key"]):
        hit = ex.get("/search", q=q)
        assert hit == {"kind": "vehicle", "id": vehicle["vehicle_id"],
                       "path": f"/vehicles/{vehicle['vehicle_id']}"}  # fmt: skip
        assert ex.get(hit["path"])["vehicle_id"] == vehicle["vehicle_id"]


@pytest.mark.parametrize(
    "q",
    [str(10**6), "case:1", "nobody", "saic:nope", "ab" * 32, "x" * 128, "ü😀", "a/../b",
     "%00", "9" * 19, "v/saic:000000"],
)  # fmt: skip
def test_search_without_match_is_404(ex: Explorer, q: str) -> None:
    assert_error(ex.http.get("/search", params={"q": q}), 404, "not_found")


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}, {"q": "x" * 129},
                                    {"q": "1" * 5000}])  # fmt: skip
def test_search_with_empty_or_oversized_query_is_400(ex: Explorer, params: dict[str, Any]) -> None:
    assert_error(ex.http.get("/search", params=params), 400, "bad_request")


def test_explorer_routes_are_documented(ex: Explorer) -> None:
    doc = ex.get("/openapi.json")
    for path in ("/overview", "/blocks", "/proposals", "/anchors", "/anchors/summary", "/search"):
        op = doc["paths"][path]["get"]
        assert op["description"]
        assert "schema" in op["responses"]["200"]["content"]["application/json"]
    assert "404" in doc["paths"]["/search"]["get"]["responses"]
    assert "400" in doc["paths"]["/search"]["get"]["responses"]
