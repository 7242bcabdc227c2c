"""The REST API against a real SoloNode: transactions, blocks, state with proofs,
listings, and bad requests (always a 4xx with an error code)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fastapi.testclient import TestClient

from carchain.api.app import create_app
from carchain.core import governance as gov
from carchain.core.transactions import MAX_TX_BYTES
from carchain.crypto.signing import SigningKey
from carchain.errors import HeightUnavailable, InvalidProof, NotFound
from carchain.node.solo_node import SoloNode
from carchain.sdk.client import Client
from carchain.sdk.proofs import verify_state_proof
from carchain.sdk.transactions import build_tx
from carchain.storage.database import Database
from tests.conftest import CHAIN_ID, FOUNDERS, make_genesis, seeded_key
from tests.core.test_vehicles import register_body, rotate_body


@dataclass
class Api:
    """A TestClient on a SoloNode; ``running`` when its block loop produces blocks."""

    http: TestClient
    node: SoloNode

    def nonce(self, key: SigningKey) -> int:
        return int(self.get(f"/accounts/{key.public_key.hex()}")["nonce"])

    def tx(self, signer: str, body: msgspec.Struct, nonce: int | None = None) -> bytes:
        key = seeded_key(signer)
        return build_tx(CHAIN_ID, key, nonce or self.nonce(key) + 1, body)

    def post(self, raw: bytes, mode: str = "sync", **params: Any) -> Any:
        return self.http.post(
            "/txs",
            params={"mode": mode, **params},
            json={"tx": base64.b64encode(raw).decode()},
        )

    def get(self, path: str, status: int = 200, **params: Any) -> Any:
        resp = self.http.get(path, params=params)
        assert resp.status_code == status, resp.text
        return resp.json()

    def commit(self, signer: str, body: msgspec.Struct) -> dict[str, Any]:
        resp = self.post(self.tx(signer, body), "commit")
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def sdk(self) -> Client:
        client = Client("http://testserver")
        client._http = self.http  # the SDK over the in-process app
        return client


def _api(tmp_path: Path, loop: bool, state_versions: int = 100) -> Iterator[Api]:
    db = Database(tmp_path / "node.db")
    node = SoloNode(db, block_interval_s=0.02, state_versions=state_versions)
    node.app.init_chain(make_genesis())
    with TestClient(create_app(node), raise_server_exceptions=False) as http:
        task = http.portal.start_task_soon(node.run) if loop else None
        try:
            yield Api(http, node)
        finally:
            if task is not None:
                http.portal.call(node.stop)
                task.result(timeout=30)
    db.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The API with the node's block loop running (a block every 20 ms when busy)."""
    yield from _api(tmp_path, loop=True)


@pytest.fixture
def idle(tmp_path: Path) -> Iterator[Api]:
    """The API with no block loop: blocks only when the test makes one."""
    yield from _api(tmp_path, loop=False)


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    doc = resp.json()
    assert doc["error"]["code"] == code, doc
    assert doc["error"]["message"]
    return dict(doc)


# --- status, submit, tx status, blocks -----------------------------------------------------------


def test_status(idle: Api) -> None:
    doc = idle.get("/status")
    assert doc == {
        "chain_id": CHAIN_ID,
        "engine": "solo",
        "height": 0,
        "app_hash": idle.node.app.state.app_hash.hex(),
        "mempool_size": 0,
        "latest_block_time_ms": 0,
    }


def test_submit_sync_then_pending_then_committed(idle: Api) -> None:
    raw = idle.tx("saic", register_body())
    resp = idle.post(raw)
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["check"] == {"code": 0, "error_code": "", "log": ""}
    assert "height" not in doc
    h = doc["hash"]
    assert idle.get(f"/txs/{h}") == {"hash": h, "state": "pending"}
    assert idle.get("/status")["mempool_size"] == 1
    block = idle.node.produce_block()
    assert block is not None
    doc = idle.get(f"/txs/{h}")
    assert (doc["state"], doc["height"], doc["index"]) == ("committed", 1, 0)
    assert doc["result"]["code"] == 0
    assert [e["type"] for e in doc["result"]["events"]] == ["tx", "vehicle_registered"]


def test_submit_commit_waits_for_the_block(api: Api) -> None:
    doc = api.commit("saic", register_body())
    assert doc["height"] >= 1 and doc["result"]["code"] == 0
    assert api.get("/status")["height"] >= doc["height"]


def test_submit_commit_rule_failure_is_422_with_result(api: Api) -> None:
    api.commit("saic", register_body())
    resp = api.post(api.tx("geely", rotate_body("saic:1", seeded_key("k").public_key)), "commit")
    doc = assert_error(resp, 422, "unauthorized")
    assert doc["result"]["error_code"] == "unauthorized"
    assert doc["height"] >= 1


def test_submit_commit_timeout_is_202(idle: Api) -> None:
    resp = idle.post(idle.tx("saic", register_body()), "commit", timeout=0.05)
    doc = assert_error(resp, 202, "timeout")
    assert idle.get(f"/txs/{doc['hash']}")["state"] == "pending"


@pytest.mark.parametrize(
    ("make", "status", "code"),
    [
        (lambda a: a.tx("stranger", register_body()), 403, "unauthorized"),
        (lambda a: a.tx("saic", register_body(), nonce=5), 409, "invalid_nonce"),
        (lambda a: b"\x93\x01\x02\x03", 400, "malformed_tx"),
        (lambda a: a.tx("saic", register_body())[:-1] + b"\x00", 400, "invalid_signature"),
        (
            lambda a: build_tx("other", seeded_key("saic"), 1, register_body()),
            400,
            "wrong_chain_id",
        ),
        (lambda a: b"\x00" * (MAX_TX_BYTES + 1), 413, "tx_too_large"),
    ],
)
def test_invalid_submissions(idle: Api, make: Any, status: int, code: str) -> None:
    before = idle.get("/status")
    assert_error(idle.post(make(idle)), status, code)
    assert idle.get("/status") == before


def test_invalid_duplicate_submission(idle: Api) -> None:
    raw = idle.tx("saic", register_body())
    assert idle.post(raw).status_code == 200
    assert_error(idle.post(raw), 409, "duplicate_tx")


@pytest.mark.parametrize(
    "body",
    [{"tx": "not base64!"}, {"tx": "é"}, {}, {"tx": 5}, {"txs": []}, [], "x"],
)
def test_invalid_submit_bodies(idle: Api, body: Any) -> None:
    resp = idle.http.post("/txs", json=body)
    assert resp.status_code in (400, 422)
    assert resp.json()["error"]["code"] == "bad_request"


def test_invalid_submit_params(idle: Api) -> None:
    raw = idle.tx("saic", register_body())
    for params in ({"mode": "later"}, {"timeout": 0}, {"timeout": 61}, {"timeout": "soon"}):
        assert_error(idle.post(raw, **params), 422, "bad_request")


def test_batch_submit(idle: Api) -> None:
    key = seeded_key("saic")
    raws = [build_tx(CHAIN_ID, key, n, register_body(f"saic:{n}")) for n in (1, 2, 4)]
    resp = idle.http.post("/txs/batch", json={"txs": [base64.b64encode(r).decode() for r in raws]})
    doc = resp.json()
    assert resp.status_code == 200
    assert doc["accepted"] == 2
    assert [r["check"]["error_code"] for r in doc["results"]] == ["", "", "invalid_nonce"]
    assert_error(idle.http.post("/txs/batch", json={"txs": ["%%%"]}), 400, "bad_request")


def test_tx_status_errors(idle: Api) -> None:
    assert_error(idle.http.get("/txs/" + "ab" * 32), 404, "not_found")
    assert_error(idle.http.get("/txs/xyz"), 400, "bad_request")
    assert_error(idle.http.get("/txs/abcd"), 400, "bad_request")


def test_block_by_height(api: Api) -> None:
    raw = api.tx("saic", register_body())
    doc = api.post(raw, "commit").json()
    block = api.get(f"/blocks/{doc['height']}")
    assert base64.b64decode(block["txs"][doc["index"]]) == raw
    assert block["height"] == doc["height"]
    assert block["results"][doc["index"]]["code"] == 0
    header = api.node.engine.blocks.get_header(doc["height"])
    assert header is not None and block["app_hash"] == header.app_hash.hex()
    if doc["height"] > 1:
        assert block["prev_hash"] == api.get(f"/blocks/{doc['height'] - 1}")["hash"]


def test_raw_block_pages_give_every_block_once_in_order(api: Api) -> None:
    raws, heights = [], []
    for i in range(3):
        raws.append(api.tx("saic", register_body(f"saic:{10 + i}")))
        heights.append(api.post(raws[-1], "commit").json()["height"])
    latest = api.get("/status")["height"]
    seen: list[dict[str, Any]] = []
    page: dict[str, Any] = {"next_height": 1}
    while page["next_height"] is not None:
        page = api.get("/blocks/raw", from_height=page["next_height"], limit=2)
        assert len(page["blocks"]) <= 2
        seen += page["blocks"]
    assert [b["height"] for b in seen] == list(range(1, latest + 1))
    for h, raw in zip(heights, raws, strict=True):
        one = api.get(f"/blocks/{h}")
        assert {k: one[k] for k in ("height", "hash", "time_ms", "app_hash", "txs")} == seen[h - 1]
        assert base64.b64encode(raw).decode() in seen[h - 1]["txs"]
    assert api.sdk().raw_blocks(latest + 1) == {"blocks": [], "next_height": None}


@pytest.mark.parametrize("params", [{"from_height": 0}, {"limit": 0}, {"limit": 101}])
def test_raw_block_page_bounds(idle: Api, params: dict[str, int]) -> None:
    assert_error(idle.http.get("/blocks/raw", params=params), 422, "bad_request")


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/blocks/0", 400, "bad_request"),
        ("/blocks/-3", 400, "bad_request"),
        ("/blocks/99", 404, "not_found"),
        ("/blocks/9223372036854775808", 404, "not_found"),
        ("/blocks/99999999999999999999999999", 404, "not_found"),
        ("/blocks/one", 422, "bad_request"),
        ("/no/such/route", 404, "not_found"),
        ("/members/saic/extra", 404, "not_found"),
    ],
)
def test_invalid_paths(idle: Api, path: str, status: int, code: str) -> None:
    assert_error(idle.http.get(path), status, code)


def test_invalid_method(idle: Api) -> None:
    assert_error(idle.http.delete("/status"), 405, "method_not_allowed")
    assert_error(idle.http.put("/txs", json={}), 405, "method_not_allowed")


# --- state with proofs ------------------------------------------------------------------------


def test_state_query_with_proof(api: Api) -> None:
    api.commit("saic", register_body())
    doc = api.get("/state/vehicles", key="v/saic:1", prove="true")
    value = bytes.fromhex(doc["value"])
    assert msgspec.msgpack.decode(value)["oem"] == "saic"
    header = api.get(f"/blocks/{doc['proof_height']}")
    app_hash = bytes.fromhex(header["app_hash"])
    assert doc["app_hash"] == header["app_hash"]
    verify_state_proof(app_hash, "vehicles", b"v/saic:1", value, doc["proof"])
    with pytest.raises(InvalidProof):
        verify_state_proof(app_hash, "vehicles", b"v/saic:1", value + b"x", doc["proof"])
    with pytest.raises(InvalidProof):
        verify_state_proof(app_hash, "vehicles", b"v/saic:2", value, doc["proof"])
    # key_hex addresses the same key; without prove there is no proof.
    plain = api.get("/state/vehicles", key_hex=b"v/saic:1".hex())
    assert plain["value"] == doc["value"] and "proof" not in plain


def test_sdk_query_verified(api: Api) -> None:
    api.commit("saic", register_body())
    with api.sdk() as client:
        v = client.query_verified("vehicles", b"v/saic:1")
        assert msgspec.msgpack.decode(v.value)["vehicle_id"] == "saic:1"
        assert v.app_hash == bytes.fromhex(client.block(v.height)["app_hash"])
        with pytest.raises(NotFound):
            client.query_verified("vehicles", b"v/nope")


def test_state_never_written_and_deleted_keys(api: Api) -> None:
    api.commit("saic", register_body())
    assert_error(api.http.get("/state/vehicles", params={"key": "v/nope"}), 404, "not_found")
    assert_error(
        api.http.get("/state/vehicles", params={"key": "v/nope", "prove": "true"}),
        404,
        "not_found",
    )
    # Rotating the key deletes the old key's index entry: a deleted key.
    old = register_body().public_key
    api.commit("saic", rotate_body("saic:1", seeded_key("vehicle/new").public_key))
    deleted = (b"k/" + old).hex()
    assert_error(api.http.get("/state/vehicles", params={"key_hex": deleted}), 404, "not_found")
    resp = api.http.get("/state/vehicles", params={"key_hex": deleted, "prove": "true"})
    doc = assert_error(resp, 404, "not_found")
    assert doc["value"] == ""
    app_hash = bytes.fromhex(api.get(f"/blocks/{doc['proof_height']}")["app_hash"])
    verify_state_proof(app_hash, "vehicles", b"k/" + old, b"", doc["proof"])
    with pytest.raises(InvalidProof):
        verify_state_proof(app_hash, "vehicles", b"k/" + old, b"saic:1", doc["proof"])


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({}, 400),
        ({"key": "a", "key_hex": "61"}, 400),
        ({"key_hex": "zz"}, 400),
        ({"key": "a", "prove": "maybe"}, 422),
        ({"key": "a" * 513}, 422),
    ],
)
def test_invalid_state_queries(idle: Api, params: dict[str, str], status: int) -> None:
    assert_error(idle.http.get("/state/vehicles", params=params), status, "bad_request")


def test_invalid_state_store(idle: Api) -> None:
    assert_error(idle.http.get("/state/nope", params={"key": "a"}), 404, "not_found")


def test_state_at_past_heights_two_reads_at_one_height(tmp_path: Path) -> None:
    for api in _api(tmp_path, loop=True, state_versions=4):
        old = register_body().public_key
        h1 = int(api.commit("saic", register_body())["height"])
        rotate = rotate_body("saic:1", seeded_key("vehicle/new").public_key)
        h2 = int(api.commit("saic", rotate)["height"])
        client = api.sdk()  # not closed: it shares the TestClient
        vehicle = client.query("vehicles", b"v/saic:1", prove=True, height=h1)
        index = client.query("vehicles", b"k/" + old, prove=True, height=h1)
        assert vehicle["height"] == index["height"] == h1
        assert vehicle["proof_height"] == index["proof_height"]
        app_hash = bytes.fromhex(client.block(vehicle["proof_height"])["app_hash"])
        value = bytes.fromhex(vehicle["value"])
        assert msgspec.msgpack.decode(value)["public_key"] == old
        verify_state_proof(app_hash, "vehicles", b"v/saic:1", value, vehicle["proof"])
        verify_state_proof(app_hash, "vehicles", b"k/" + old, b"saic:1", index["proof"])
        # The latest state has the rotated key, and the verified read follows the height.
        latest = client.query_verified("vehicles", b"v/saic:1")
        assert msgspec.msgpack.decode(latest.value)["public_key"] != old
        at_h1 = client.query_verified("vehicles", b"v/saic:1", height=h1)
        assert at_h1.value == value and at_h1.height == h1
        assert client.query("vehicles", b"v/saic:1", height=h2)["value"] != vehicle["value"]
        # Leave the window of 4 heights: the old height is a typed error.
        for i in range(4):
            api.commit("saic", register_body(f"saic:w{i}"))
        with pytest.raises(HeightUnavailable) as exc:
            client.query("vehicles", b"v/saic:1", prove=True, height=h1)
        assert exc.value.fields["height"] == h1
        resp = api.http.get("/state/vehicles", params={"key": "v/saic-1", "height": h1})
        assert_error(resp, 404, "height_unavailable")
        future = api.node.app.state.height + 5
        resp = api.http.get("/state/vehicles", params={"key": "v/saic-1", "height": future})
        assert_error(resp, 404, "height_unavailable")
        for bad in ("-1", "x", str(2**63)):
            resp = api.http.get("/state/vehicles", params={"key": "v/saic-1", "height": bad})
            assert_error(resp, 422, "bad_request")


# --- listings ------------------------------------------------------------------------------


def test_members_listing_and_paging(idle: Api) -> None:
    ids = sorted(m for m, *_ in FOUNDERS)
    assert [m["member_id"] for m in idle.get("/members")["members"]] == ids
    page1 = idle.get("/members", limit=2)["members"]
    page2 = idle.get("/members", limit=2, after=page1[-1]["member_id"])["members"]
    page3 = idle.get("/members", limit=2, after=page2[-1]["member_id"])["members"]
    assert [m["member_id"] for m in page1 + page2 + page3] == ids
    saic = idle.get("/members/saic")
    assert (saic["roles"], saic["public_key"]) == (["oem"], seeded_key("saic").public_key.hex())
    assert_error(idle.http.get("/members/nobody"), 404, "not_found")
    for limit in (0, 1001, "x"):
        assert_error(idle.http.get("/members", params={"limit": limit}), 422, "bad_request")


def test_vehicles_listing_paging_and_oem_filter(api: Api) -> None:
    key_s, key_g = seeded_key("saic"), seeded_key("geely")
    raws = [build_tx(CHAIN_ID, key_s, n, register_body(f"saic:{n:02d}")) for n in range(1, 8)]
    raws += [build_tx(CHAIN_ID, key_g, n, register_body(f"geely:{n:02d}")) for n in range(1, 5)]
    for raw in raws[:-1]:
        assert api.post(raw).status_code == 200
    assert api.post(raws[-1], "commit").status_code == 200
    all_ids = sorted(
        [f"saic:{n:02d}" for n in range(1, 8)] + [f"geely:{n:02d}" for n in range(1, 5)]
    )
    assert [v["vehicle_id"] for v in api.get("/vehicles")["vehicles"]] == all_ids
    seen: list[str] = []
    after = ""
    while True:
        page = api.get("/vehicles", limit=3, after=after)["vehicles"]
        if not page:
            break
        assert len(page) <= 3
        seen += [v["vehicle_id"] for v in page]
        after = page[-1]["vehicle_id"]
    assert seen == all_ids
    geely = api.get("/vehicles", oem="geely", limit=2)["vehicles"]
    assert [v["vehicle_id"] for v in geely] == ["geely:01", "geely:02"]
    rest = api.get("/vehicles", oem="geely", limit=10, after="geely:02")["vehicles"]
    assert [v["vehicle_id"] for v in rest] == ["geely:03", "geely:04"]
    one = api.get("/vehicles/saic:01")
    assert (one["oem"], one["status"]) == ("saic", "active")
    assert "vin" not in one and len(one["vin_commitment"]) == 64
    assert_error(api.http.get("/vehicles/nope"), 404, "not_found")


def test_proposals_and_accounts(api: Api) -> None:
    doc = api.commit("miit", gov.Propose(gov.SuspendMember("bosch")))
    pid = int(
        next(e for e in doc["result"]["events"] if e["type"] == "proposal_created")["attributes"][
            "proposal_id"
        ]
    )
    p = api.get(f"/proposals/{pid}")
    assert (p["status"], p["yes"], p["action"]["type"]) == ("open", ["miit"], "suspend_member")
    assert api.get(f"/accounts/{seeded_key('miit').public_key.hex()}")["nonce"] == 1
    assert api.get(f"/accounts/{seeded_key('nobody').public_key.hex()}")["nonce"] == 0
    assert_error(api.http.get("/proposals/99"), 404, "not_found")
    assert_error(api.http.get("/proposals/0"), 404, "not_found")
    assert_error(api.http.get("/accounts/abcd"), 400, "bad_request")
    assert_error(api.http.get("/accounts/zz"), 400, "bad_request")


def test_open_proposal_past_its_lifetime_shows_expired(idle: Api) -> None:
    assert idle.post(idle.tx("miit", gov.Propose(gov.SuspendMember("bosch")))).status_code == 200
    idle.node.produce_block()
    p = idle.get("/proposals/1")
    assert p["status"] == "open"
    while idle.get("/status")["height"] < p["expires_height"]:
        assert idle.get("/proposals/1")["status"] == "open"
        nonce = idle.nonce(seeded_key("saic")) + 1
        idle.post(idle.tx("saic", register_body(f"saic:{nonce}"), nonce))
        idle.node.produce_block()
    # No later block may count a vote: the API says so, and the chain agrees.
    assert idle.get("/proposals/1")["status"] == "expired"
    resp = idle.post(idle.tx("police", gov.Vote(1, True)))
    assert resp.status_code == 200  # admitted; the rule is checked in the block
    block = idle.node.produce_block()
    assert block is not None and block.results[0].error_code == "invalid_state"
