"""The V2X SCMS read routes on a real SoloNode: CAs, revocations with their seeds,
reports; answers match their response models; unknown ids 404, bad hex 400, bad numbers 422."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from carchain.api.app import create_app
from carchain.api.routes import v2x_scms
from carchain.core import governance as gov
from carchain.core import misbehaviour as mb
from carchain.core import v2x_revocation as rvk
from carchain.crypto import linkage as lk
from carchain.crypto.ecdsa import P256SigningKey
from carchain.node.solo_node import SoloNode
from carchain.sdk.transactions import build_tx
from carchain.storage.database import Database
from carchain.v2x.revocation_index import ChainRevocationIndex
from tests.conftest import CHAIN_ID, make_genesis, seeded_key
from tests.core.v2x_world import (
    LA1_ID,
    LA2_ID,
    SCMS_FOUNDERS,
    fake_certificate,
    register_ca_action,
    signed_report,
)

S1, S2 = b"\x01" * 16, b"\x02" * 16


@dataclass
class Node:
    node: SoloNode
    http: TestClient

    def send(self, signer: str, body: msgspec.Struct) -> list[Any]:
        key = seeded_key(signer)
        nonce = int(self.get(f"/accounts/{key.public_key.hex()}")["nonce"]) + 1
        check = self.node.engine.submit(build_tx(CHAIN_ID, key, nonce, body))
        assert check.ok, check
        block = self.node.produce_block()
        assert block is not None and [r.code for r in block.results] == [0], block.results
        return list(block.results)

    def carry(self, proposer: str, action: gov.Action) -> None:
        self.send(proposer, gov.Propose(action))
        seq = int.from_bytes(self.node.app.state.get("governance", b"seq") or b"", "big")
        for voter, *_ in SCMS_FOUNDERS:
            if voter == proposer:
                continue
            if gov.get_proposal(self.node.app.state, seq).status != "open":
                break
            self.send(voter, gov.Vote(seq, True))
        assert gov.get_proposal(self.node.app.state, seq).status == "executed"

    def get(self, path: str, status: int = 200, **params: Any) -> Any:
        resp = self.http.get(path, params=params)
        assert resp.status_code == status, resp.text
        return resp.json()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    db = Database(tmp_path / "node.db")
    solo = SoloNode(db, state_versions=100)
    solo.app.init_chain(make_genesis(founders=SCMS_FOUNDERS))
    try:
        with TestClient(create_app(solo), raise_server_exceptions=False) as http:
            yield Node(solo, http)
    finally:
        db.close()


def _check_model(model: type[BaseModel], doc: dict[str, Any]) -> None:
    assert model.model_validate(doc).model_dump(mode="json") == doc


def test_cas_revocations_and_reports_read_back(node: Node) -> None:
    node.carry("miit", rvk.SetLinkageAuthorities("caam", LA1_ID, "cstc", LA2_ID))
    key = P256SigningKey.generate()
    action = register_ca_action("saic", key, fake_certificate(key, b"pca"))
    node.carry("saic", action)
    node.send("saic", signed_report(P256SigningKey.generate()))
    i = rvk.compute_period(int(time.time()))
    lv = lk.compute_linkage_value(lk.compute_plv(LA1_ID, S1, 3), lk.compute_plv(LA2_ID, S2, 3))
    node.send("mama", mb.Review(1, "revoke", action.hashed_id8, lv, i))
    node.send("caam", rvk.ReleaseSeed(1, S1))
    node.send("cstc", rvk.ReleaseSeed(1, S2))

    cas = node.get("/v2x/cas")
    _check_model(v2x_scms.CaList, cas)
    assert [c["hashed_id8"] for c in cas["cas"]] == [action.hashed_id8.hex()]
    one = node.get(f"/v2x/cas/{action.hashed_id8.hex()}")
    assert one["oem"] == "saic" and one["status"] == "active"

    revs = node.get("/v2x/revocations")
    _check_model(v2x_scms.RevocationList, revs)
    (rv,) = revs["revocations"]
    assert rv["status"] == "revoked" and rv["i_period"] == i
    assert {r["seed"] for r in rv["releases"]} == {S1.hex(), S2.hex()}
    assert revs["linkage_authorities"]["la1"] == "caam"
    assert node.get("/v2x/revocations", after=1)["revocations"] == []
    _check_model(v2x_scms.RevocationModel, node.get("/v2x/revocations/1"))

    reports = node.get("/v2x/reports")
    _check_model(v2x_scms.ReportList, reports)
    assert reports["reports"][0]["status"] == "revocation_decided"
    one = node.get("/v2x/reports/1")
    _check_model(v2x_scms.ReportModel, one)
    assert "evidence" not in one and [b["member_id"] for b in one["evidence_boxes"]] == ["mama"]
    assert len(bytes.fromhex(one["evidence_hash"])) == 32
    assert b"\x03\x81offending".hex() not in str(reports) + str(one)

    # A receiver's index built from the same state revokes the car's current values.
    from carchain.api.view import BackendView

    index = ChainRevocationIndex()
    assert index.process_refresh(BackendView(node.node)) == 1
    assert index.is_revoked(lv, i)


def test_invalid_unknown_ids_and_bad_input(node: Node) -> None:
    assert node.get("/v2x/cas/" + "00" * 8, 404)["error"]["code"] == "unknown_pseudonym_ca"
    assert node.get("/v2x/revocations/1", 404)["error"]["code"] == "not_found"
    assert node.get("/v2x/reports/9", 404)["error"]["code"] == "unknown_misbehaviour_report"
    node.get("/v2x/cas/zz", 400)
    node.get("/v2x/cas/" + "00" * 7, 400)
    node.get("/v2x/reports/0", 422)
    node.get("/v2x/revocations", 422, after=-1)
    assert node.get("/v2x/revocations") == {
        "count": 0,
        "linkage_authorities": None,
        "revocations": [],
    }
