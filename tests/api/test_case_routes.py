"""The case and escrow-key read routes on a real SoloNode over the lawful world: each
record the chain keeps for a case is readable, answers match their documented response
models (derived from the core's records), unknown ids are 404 and bad ids 422, and the
OpenAPI document names every schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from carchain.api.app import create_app
from carchain.api.routes import cases as case_routes
from carchain.core.case_records import CaseReceipt, CloseCase, ReceiptItemRef
from carchain.errors import NotFound
from carchain.node.solo_node import SoloNode
from carchain.sdk.cases import CaseClient
from carchain.storage.database import Database
from tests.conftest import Chain, make_genesis
from tests.core.lawful_world import (
    EPOCH,
    LAWFUL_MEMBERS,
    OFFICER,
    approve,
    authorized_case,
    digest,
    escrow_key_name,
    item,
    open_case,
    release_body,
    setup_world,
)


class LawChain(Chain):
    """The solo test chain with ``state`` (what the lawful world's helpers read)."""

    @property
    def state(self) -> Any:
        return self.app.state


class Node:
    def __init__(self, chain: LawChain, http: TestClient) -> None:
        self.chain, self.http = chain, http

    def get(self, path: str, status: int = 200, **params: Any) -> Any:
        resp = self.http.get(path, params=params)
        assert resp.status_code == status, resp.text
        return resp.json()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    db = Database(tmp_path / "node.db")
    solo = SoloNode(db, state_versions=100)
    solo.app.init_chain(make_genesis(founders=LAWFUL_MEMBERS))
    chain = LawChain(solo.app, solo.engine, db, tmp_path)
    try:
        setup_world(chain)  # type: ignore[arg-type]
        with TestClient(create_app(solo), raise_server_exceptions=False) as http:
            yield Node(chain, http)
    finally:
        db.close()


def check_model(model: type[BaseModel], doc: dict[str, Any]) -> None:
    assert model.model_validate(doc).model_dump(mode="json") == doc


def test_a_case_reads_as_stored_with_its_displayed_state(node: Node) -> None:
    case_id = open_case(node.chain)  # type: ignore[arg-type]
    doc = node.get(f"/cases/{case_id}")
    check_model(case_routes.CaseDetail, doc)
    assert doc["display_state"] == "open" and doc["case"]["scope"] is None
    assert doc["case"]["case_ref"] == digest("case-ref").hex()  # a hash, never the reference
    assert doc["case"]["opened_scope"]["vehicles"] == ["saic:1", "saic:2"]
    case_id = authorized_case(node.chain)  # type: ignore[arg-type]
    approve(node.chain, case_id, "court", "caam")  # type: ignore[arg-type]
    doc = node.get(f"/cases/{case_id}")
    check_model(case_routes.CaseDetail, doc)
    assert (doc["display_state"], doc["case"]["court"]) == ("authorized", "court2")
    assert [v["member_id"] for v in doc["case"]["approvals"]] == ["court", "caam"]
    node.chain.now_ms = doc["case"]["expires_ms"]
    node.chain.send("police", CloseCase(1))  # a block past the expiry
    assert node.get(f"/cases/{case_id}")["display_state"] == "expired"
    assert node.get("/cases/1")["display_state"] == "closed"


def test_cases_list_newest_first_in_pages(node: Node) -> None:
    for _ in range(3):
        open_case(node.chain)  # type: ignore[arg-type]
    page = node.get("/cases", limit=2)
    check_model(case_routes.CaseList, page)
    assert [d["case"]["case_id"] for d in page["cases"]] == [3, 2]
    assert page["next_before"] == 2
    rest = node.get("/cases", before=2, limit=2)
    assert [d["case"]["case_id"] for d in rest["cases"]] == [1] and rest["next_before"] is None
    assert node.get("/cases", before=1)["cases"] == []


def test_releases_and_receipts_of_a_case(node: Node) -> None:
    case_id = authorized_case(node.chain)  # type: ignore[arg-type]
    approve(node.chain, case_id, "court", "caam", "audit")  # type: ignore[arg-type]
    assert node.get(f"/cases/{case_id}/releases")["releases"] == []
    node.chain.send("caam", release_body(case_id, item(label="a")))
    node.chain.send("caam", release_body(case_id, item(epoch=EPOCH + 1, label="b")))
    doc = node.get(f"/cases/{case_id}/releases")
    check_model(case_routes.ReleaseList, doc)
    assert [(r["seq"], r["custodian"]) for r in doc["releases"]] == [(0, "caam"), (1, "caam")]
    assert doc["releases"][0]["items"][0]["vehicle_id"] == "saic:1"
    page = node.get(f"/cases/{case_id}/releases", after=0, limit=1)
    assert [r["seq"] for r in page["releases"]] == [0] and page["next_after"] == 1
    assert node.get(f"/cases/{case_id}/releases", after=1)["next_after"] is None
    assert node.get(f"/cases/{case_id}/receipts")["receipts"] == []
    receipt = CaseReceipt(case_id, "saic:1", [ReceiptItemRef(digest("batch"), 3, digest("rec"))])
    node.chain.send(node.chain.key(OFFICER), receipt)
    doc = node.get(f"/cases/{case_id}/receipts")
    check_model(case_routes.ReceiptList, doc)
    [r] = doc["receipts"]
    assert r["vehicle_id"] == "saic:1" and r["items"][0]["header_hash"] == digest("batch").hex()
    assert r["signer"] == node.chain.key(OFFICER).public_key.hex()


def test_escrow_keys_of_members(node: Node) -> None:
    doc = node.get("/escrow/keys/caam")
    check_model(case_routes.EscrowKeyDetail, doc)
    assert doc["escrow_key"] == node.chain.key(escrow_key_name("caam")).public_key.hex()
    assert node.get("/escrow/keys/pingan")["escrow_key"] is None
    node.get("/escrow/keys/nobody", 404)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/cases/9", 404),
        ("/cases/9/releases", 404),
        ("/cases/9/receipts", 404),
        ("/cases/0", 422),
        ("/cases/-1", 422),
        ("/cases/x", 422),
        (f"/cases/{2**63}", 422),
        ("/cases?limit=0", 422),
        ("/cases?limit=101", 422),
        ("/cases?before=0", 422),
        ("/cases/1/releases?after=-1", 422),
        ("/cases/1/releases?limit=1000", 422),
    ],
)
def test_invalid_ids_and_pages_are_typed_errors(node: Node, path: str, status: int) -> None:
    open_case(node.chain)  # type: ignore[arg-type]
    resp = node.http.get(path)
    assert resp.status_code == status, resp.text
    assert isinstance(resp.json()["error"]["code"], str)


def test_openapi_documents_the_case_records(node: Node) -> None:
    spec = node.get("/openapi.json")
    schemas = spec["components"]["schemas"]
    for path in (
        "/cases",
        "/cases/{case_id}",
        "/cases/{case_id}/releases",
        "/cases/{case_id}/receipts",
        "/escrow/keys/{member_id}",
    ):
        responses = spec["paths"][path]["get"]["responses"]
        assert {"200", "404", "422"} <= set(responses)
        ref = responses["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.split("/")[-1] in schemas
    case = schemas["Case"]["properties"]
    assert case["case_ref"]["description"] == "hex" and "approvals" in case
    assert set(schemas["ShareRelease"]["properties"]) >= {"custodian", "items", "height"}


def test_the_sdk_reads_the_same_documents(node: Node) -> None:
    case_id = authorized_case(node.chain)  # type: ignore[arg-type]
    client = CaseClient("http://testserver")
    client._http = node.http
    assert client.case(case_id) == node.get(f"/cases/{case_id}")
    assert client.cases()["cases"][0]["case"]["case_id"] == case_id
    assert client.case_releases(case_id)["releases"] == []
    assert client.case_receipts(case_id)["receipts"] == []
    assert client.escrow_key("caam")["member_id"] == "caam"
    with pytest.raises(NotFound):
        client.case(99)
