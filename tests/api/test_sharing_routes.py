"""The consent, access and erasure read routes on a real SoloNode: every record the
chain keeps for a step is readable, answers match their documented response models
(derived from the core's records), unknown ids are 404 and bad seqs 422."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from carchain.api.app import create_app
from carchain.api.routes import sharing
from carchain.core import holds
from carchain.core.erasure import RequestErasure
from carchain.errors import NotFound
from carchain.node.solo_node import SoloNode
from carchain.sdk.client import Client
from carchain.sdk.transactions import build_tx
from carchain.storage.database import Database
from tests.conftest import CHAIN_ID, make_genesis, seeded_key
from tests.core.sharing import (
    ROLE_FOUNDERS,
    grant_body,
    receipt_body,
    release_body,
    request_body,
    withdraw_body,
)
from tests.core.test_vehicles import register_body


@dataclass
class Node:
    node: SoloNode
    http: TestClient

    def send(self, signer: str, body: msgspec.Struct) -> None:
        key = seeded_key(signer)
        nonce = int(self.get(f"/accounts/{key.public_key.hex()}")["nonce"]) + 1
        check = self.node.engine.submit(build_tx(CHAIN_ID, key, nonce, body))
        assert check.ok, check
        block = self.node.produce_block()
        assert block is not None and [r.code for r in block.results] == [0], block

    def get(self, path: str, status: int = 200, **params: Any) -> Any:
        resp = self.http.get(path, params=params)
        assert resp.status_code == status, resp.text
        return resp.json()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    db = Database(tmp_path / "node.db")
    solo = SoloNode(db, state_versions=100)
    solo.app.init_chain(make_genesis(founders=ROLE_FOUNDERS))
    try:
        with TestClient(create_app(solo), raise_server_exceptions=False) as http:
            n = Node(solo, http)
            n.send("saic", register_body("saic:1", seeded_key("owner-a")))
            yield n
    finally:
        db.close()


FAR_FUTURE_MS = 2**62  # the solo node's blocks carry the wall clock's time


def _check_model(model: type[BaseModel], doc: dict[str, Any]) -> None:
    assert model.model_validate(doc).model_dump(mode="json") == doc


def test_consents_show_each_grant_and_whether_it_is_in_force(node: Node) -> None:
    assert node.get("/vehicles/saic:1/consents")["grants"] == []
    node.send("owner-a", grant_body(expires_ms=FAR_FUTURE_MS))
    doc = node.get("/vehicles/saic:1/consents")
    _check_model(sharing.ConsentList, doc)
    [g] = doc["grants"]
    assert (g["seq"], g["recipient_id"], g["categories"], g["in_force"]) == (
        0,
        "bosch",
        ["diagnostics"],
        True,
    )
    assert g["owner"] == seeded_key("owner-a").public_key.hex()
    node.send("owner-a", withdraw_body())
    node.send(
        "owner-a", grant_body(recipient_id="pingan", purpose="insurance", expires_ms=FAR_FUTURE_MS)
    )
    by_seq = {g["seq"]: g["in_force"] for g in node.get("/vehicles/saic:1/consents")["grants"]}
    assert by_seq == {0: False, 1: True}


def test_access_request_with_its_release_and_receipts(node: Node) -> None:
    node.send("owner-a", grant_body(expires_ms=FAR_FUTURE_MS))
    node.send("bosch", request_body())
    doc = node.get("/vehicles/saic:1/access-requests/0")
    _check_model(sharing.RequestDetail, doc)
    assert doc["request"]["decision"] == "approved" and doc["release"] is None
    node.send("saic", release_body())
    node.send("bosch", receipt_body())
    doc = node.get("/vehicles/saic:1/access-requests/0")
    _check_model(sharing.RequestDetail, doc)
    assert doc["release"]["releaser_member"] == "saic"
    assert len(doc["release"]["batches"]) == 2 and len(doc["receipts"]) == 1
    node.send("pingan", request_body(purpose="insurance"))
    refused = node.get("/vehicles/saic:1/access-requests/1")["request"]
    assert (refused["decision"], refused["reason"]) == ("refused", "no_grant")


def test_erasures_holds_and_the_overdue_list(node: Node) -> None:
    node.send("owner-a", RequestErasure("saic:1", ["diagnostics"], 0, 1000))
    listing = node.get("/vehicles/saic:1/erasures")
    _check_model(sharing.ErasureList, listing)
    [e] = listing["erasures"]
    assert (e["status"], e["oem"]) == ("open", "saic") and e["deadline_ms"] > e["requested_ms"]
    detail = node.get("/vehicles/saic:1/erasures/0")
    _check_model(sharing.ErasureDetail, detail)
    assert detail["tombstone"] is None
    node.send("court", holds.PlaceHold("saic:1", ["diagnostics"], 0, 1000, b"\x01" * 32))
    held = node.get("/vehicles/saic:1/holds")
    _check_model(sharing.HoldList, held)
    assert [h["case_ref"] for h in held["holds"]] == ["01" * 32]
    assert node.get("/vehicles/saic:1/erasures/0")["erasure"]["status"] == "held"
    overdue = node.get("/members/saic/erasures/overdue")
    _check_model(sharing.OverdueList, overdue)
    assert (overdue["overdue_now"], overdue["entries"]) == (0, [])


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/vehicles/saic:9/consents", 404),
        ("/vehicles/saic:9/erasures", 404),
        ("/vehicles/saic:9/holds", 404),
        ("/vehicles/saic:1/access-requests/0", 404),
        ("/vehicles/saic:1/erasures/0", 404),
        ("/members/nobody/erasures/overdue", 404),
        ("/vehicles/saic:1/access-requests/-1", 422),
        ("/vehicles/saic:1/erasures/x", 422),
    ],
)
def test_invalid_lookups_are_typed_errors(node: Node, path: str, status: int) -> None:
    doc = node.get(path, status)
    assert doc["error"]["code"] in {"not_found", "bad_request", "validation_error"}


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"before": -1}])
def test_invalid_overdue_page_params(node: Node, params: dict[str, int]) -> None:
    node.get("/members/saic/erasures/overdue", 422, **params)


def test_openapi_documents_the_records_and_errors(node: Node) -> None:
    spec = node.get("/openapi.json")
    schemas = spec["components"]["schemas"]
    for path in (
        "/vehicles/{vehicle_id}/consents",
        "/vehicles/{vehicle_id}/access-requests/{seq}",
        "/vehicles/{vehicle_id}/erasures",
        "/vehicles/{vehicle_id}/erasures/{seq}",
        "/members/{oem}/erasures/overdue",
        "/vehicles/{vehicle_id}/holds",
    ):
        responses = spec["paths"][path]["get"]["responses"]
        assert {"200", "404", "422"} <= set(responses)
        ref = responses["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.split("/")[-1] in schemas
    # Record fields come from the core's structs: bytes are documented as hex strings.
    grant = schemas["GrantWithStatus"]["properties"]
    assert grant["owner"]["type"] == "string" and grant["owner"]["description"] == "hex"
    assert set(grant) >= {"recipient_id", "recipient_role", "expires_ms", "withdrawn_height"}


def test_sdk_reads_the_same_records(node: Node) -> None:
    node.send("owner-a", grant_body(expires_ms=FAR_FUTURE_MS))
    node.send("bosch", request_body())
    node.send("owner-a", RequestErasure("saic:1", ["diagnostics"], 0, 1000))
    client = Client("http://testserver")
    client._http = node.http
    assert client.consents("saic:1") == node.get("/vehicles/saic:1/consents")
    assert client.access_request("saic:1", 0)["request"]["decision"] == "approved"
    assert client.erasures("saic:1")["erasures"][0]["status"] == "open"
    assert client.erasure("saic:1", 0)["tombstone"] is None
    assert client.overdue_erasures("saic")["overdue_now"] == 0
    assert client.holds("saic:1")["holds"] == []
    with pytest.raises(NotFound):
        client.access_request("saic:1", 7)


def test_openapi_documents_the_submit_answers(node: Node) -> None:
    """Every step of consent, access and erasure is a ``POST /txs``: its answers (admitted,
    committed, refused, failed in the block) are documented with their schema."""
    spec = node.get("/openapi.json")
    responses = spec["paths"]["/txs"]["post"]["responses"]
    assert {"200", "202", "400", "403", "409", "422"} <= set(responses)
    for status, r in responses.items():
        schema = r["content"]["application/json"]["schema"]
        if status in ("200", "202"):
            assert schema["$ref"].endswith("/SubmitAnswer")
        elif status in ("403", "409", "413"):  # refused at check: the answer and the error
            assert [s["$ref"].rsplit("/", 1)[1] for s in schema["allOf"]] == [
                "ErrorDocument",
                "SubmitAnswer",
            ]
        else:  # 400 and 422 may come before the transaction decodes: the error document
            assert schema["$ref"].endswith("/ErrorDocument")
    answer = spec["components"]["schemas"]["SubmitAnswer"]["properties"]
    assert {"hash", "check", "height", "result", "error"} <= set(answer)
    status = spec["paths"]["/txs/{tx_hash}"]["get"]["responses"]
    assert {"200", "400", "404"} <= set(status)


def test_submit_answers_match_their_schema(node: Node) -> None:
    import base64

    from carchain.api.routes.txs import SubmitAnswer

    key = seeded_key("owner-a")
    raw = build_tx(CHAIN_ID, key, 1, grant_body(expires_ms=FAR_FUTURE_MS))
    ok = node.http.post(
        "/txs", params={"mode": "sync"}, json={"tx": base64.b64encode(raw).decode()}
    )
    assert ok.status_code == 200
    SubmitAnswer.model_validate(ok.json())
    replay = node.http.post("/txs", json={"tx": base64.b64encode(raw).decode()})
    assert replay.status_code == 409
    assert SubmitAnswer.model_validate(replay.json()).error is not None
    stranger = build_tx(CHAIN_ID, seeded_key("stranger"), 1, grant_body())
    refused = node.http.post("/txs", json={"tx": base64.b64encode(stranger).decode()})
    assert refused.status_code == 403
    assert SubmitAnswer.model_validate(refused.json()).check.error_code == "unauthorized"
