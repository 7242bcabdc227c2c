"""``GET /escrow/committee?epoch=E``: the committee in force for an epoch, with each seat's
key (the car seals its shares to them), 404 before one is in force; the car's SDK source
reads it once per epoch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carchain.api.app import create_app
from carchain.api.routes import escrow_committee as route
from carchain.core import governance as gov
from carchain.core.case_records import DAY_MS, RegisterEscrowKey
from carchain.errors import NodeUnavailable, NotFound
from carchain.node.solo_node import SoloNode
from carchain.sdk.escrow_seats import ChainEscrowSource, parse_escrow_seats
from carchain.sdk.transactions import build_tx
from carchain.storage.database import Database
from tests.api.test_sharing_routes import Node
from tests.conftest import CHAIN_ID, make_genesis, seeded_key
from tests.core.lawful_world import CUSTODIAN_MEMBERS, LAWFUL_MEMBERS, committee_action


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    db = Database(tmp_path / "node.db")
    solo = SoloNode(db, state_versions=100)
    solo.app.init_chain(make_genesis(founders=LAWFUL_MEMBERS))
    try:
        with TestClient(create_app(solo), raise_server_exceptions=False) as http:
            yield Node(solo, http)
    finally:
        db.close()


def set_committee(node: Node) -> int:
    """Register the custodians' escrow keys and set the 3-of-4 committee; return the
    epoch it is in force from."""
    for member in CUSTODIAN_MEMBERS:
        node.send(member, RegisterEscrowKey(seeded_key("escrow/" + member).public_key))
    node.send("miit", gov.Propose(committee_action()))
    for voter, *_ in LAWFUL_MEMBERS:  # all in one block: votes after the deciding one fail
        if voter != "miit":
            key = seeded_key(voter)
            nonce = int(node.get(f"/accounts/{key.public_key.hex()}")["nonce"]) + 1
            assert node.node.engine.submit(build_tx(CHAIN_ID, key, nonce, gov.Vote(1, True))).ok
    node.node.produce_block()
    assert node.get("/proposals/1")["status"] == "executed"
    return int(node.get("/status")["latest_block_time_ms"]) // DAY_MS + 1


def test_committee_for_epoch_with_seat_keys(node: Node) -> None:
    node.get("/escrow/committee", 404, epoch=0)
    first = set_committee(node)
    node.get("/escrow/committee", 404, epoch=first - 1)
    node.get("/escrow/committee", 404)  # today: the change applies from tomorrow
    doc = node.get("/escrow/committee", epoch=first, oem="saic")
    assert route.CommitteeForEpoch.model_validate(doc).model_dump(mode="json") == doc
    committee = doc["committee"]
    assert (doc["epoch"], committee["version"], committee["threshold"]) == (first, 1, 3)
    assert committee["from_epoch"] == first
    expected = [seeded_key("escrow/" + m).public_key.hex() for m in CUSTODIAN_MEMBERS]
    assert doc["seat_keys"] == [*expected, seeded_key("saic").public_key.hex()]
    assert node.get("/escrow/committee", epoch=first + 100)["committee"] == committee
    # Without an OEM the vehicle-OEM seat has no key yet.
    assert node.get("/escrow/committee", epoch=first)["seat_keys"][3] == ""
    node.get("/escrow/committee", 404, epoch=first, oem="nosuch")
    node.get("/escrow/committee", 422, epoch=-1)
    node.get("/escrow/committee", 422, epoch="x")
    seats = parse_escrow_seats(doc)
    assert seats.seat_keys[0] == bytes.fromhex(expected[0])
    assert [c.index for c in seats.committee.custodians] == [1, 2, 3, 4]


class FakeClient:
    def __init__(self, answers: dict[int, dict[str, Any]]) -> None:
        self.answers = answers
        self.calls: list[tuple[int, str]] = []

    def escrow_committee(self, epoch: int, oem: str = "") -> dict[str, Any]:
        self.calls.append((epoch, oem))
        if epoch not in self.answers:
            raise NotFound("no escrow committee is in force for that epoch")
        return self.answers[epoch]


def test_car_source_reads_each_epoch_once(node: Node) -> None:
    first = set_committee(node)
    doc = node.get("/escrow/committee", epoch=first, oem="saic")
    client = FakeClient({first: doc})
    source = ChainEscrowSource(client, "saic")  # type: ignore[arg-type]
    assert source.get_escrow_seats(first - 1) is None
    seats = source.get_escrow_seats(first)
    assert seats is not None and seats.committee.version == 1
    assert source.get_escrow_seats(first) is seats and source.get_escrow_seats(first - 1) is None
    assert client.calls == [(first - 1, "saic"), (first, "saic")]


@pytest.mark.parametrize(
    "change",
    [
        {"seat_keys": []},
        {"seat_keys": ["zz"] * 4},
        {"seat_keys": ["00" * 31] * 4},
        {"committee": {"version": "x"}},
        {"committee": None},
    ],
)
def test_invalid_committee_answer_is_refused(node: Node, change: dict[str, Any]) -> None:
    first = set_committee(node)
    doc = node.get("/escrow/committee", epoch=first, oem="saic") | change
    with pytest.raises(NodeUnavailable):
        parse_escrow_seats(doc)


def test_openapi_documents_the_committee_schema(node: Node) -> None:
    spec = node.get("/openapi.json")
    responses = spec["paths"]["/escrow/committee"]["get"]["responses"]
    assert {"200", "404", "422"} <= set(responses)
    ref = responses["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    schemas = spec["components"]["schemas"]
    assert ref == "CommitteeForEpoch" and "committee" in schemas[ref]["properties"]
    custodian = schemas["Custodian"]["properties"]
    assert custodian["escrow_key"]["description"] == "hex"
