"""``GET /vehicles/{id}/access-log`` and ``GET /members/{oem}/access-log``: newest first,
paged, every entry proven against the one app hash the page was read at; bad input
is a typed 4xx."""

from __future__ import annotations

from typing import Any

import pytest

from carchain.api.routes.access_log import AccessLogPage, OemAccessLogPage
from carchain.core import access_log as log
from carchain.errors import InvalidProof
from carchain.sdk.proofs import verify_state_proof
from tests.access_log_chain import LogChain, log_chain, test_tx_type

__all__ = ["log_chain", "test_tx_type"]


def _verify_entry(page: dict[str, Any], proven: dict[str, Any]) -> None:
    app_hash = bytes.fromhex(page["app_hash"])
    key, value = bytes.fromhex(proven["key"]), bytes.fromhex(proven["value"])
    verify_state_proof(app_hash, log.STORE, key, value, proven["proof"])


def test_vehicle_log_is_newest_first_across_pages(log_chain: LogChain) -> None:
    log_chain.register("saic:1")
    log_chain.append("saic:1", 3, "grant")
    log_chain.append("saic:1", 4, "request")
    seen: list[int] = []
    before = None
    while True:
        params = {"limit": 3} | ({} if before is None else {"before": before})
        page = log_chain.get("/vehicles/saic:1/access-log", **params)
        assert page["size"] == 7 and page["vehicle_id"] == "saic:1"
        seen += [e["seq"] for e in page["events"]]
        for e in page["events"]:
            assert e["event"]["seq"] == e["seq"]
            assert e["record"]["key"] == log.compute_log_key("saic:1", e["seq"]).hex()
            _verify_entry(page, e["record"])
        before = page["next_before"]
        if before is None:
            break
    assert seen == [6, 5, 4, 3, 2, 1, 0]
    newest = log_chain.get("/vehicles/saic:1/access-log", limit=1)["events"][0]["event"]
    assert newest["kind"] == "request" and newest["categories"] == ["diagnostics"]


def test_page_is_read_at_one_height_with_the_header_app_hash(log_chain: LogChain) -> None:
    log_chain.register("saic:1")
    height = log_chain.append("saic:1", 5)
    page = log_chain.get("/vehicles/saic:1/access-log")
    assert page["height"] == height and page["proof_height"] == height
    block = log_chain.get(f"/blocks/{height}")
    assert page["app_hash"] == block["app_hash"]
    _verify_entry(page, page["size_proof"])
    assert int(page["size_proof"]["value"], 16) == 5
    # A later block does not move a page asked at the old height.
    log_chain.append("saic:1", 2)
    old = log_chain.get("/vehicles/saic:1/access-log", height=height)
    assert old["size"] == 5 and old["app_hash"] == page["app_hash"]
    assert [e["seq"] for e in old["events"]] == [4, 3, 2, 1, 0]


def test_tampered_entry_fails_its_proof(log_chain: LogChain) -> None:
    log_chain.register("saic:1")
    log_chain.append("saic:1", 2)
    page = log_chain.get("/vehicles/saic:1/access-log")
    record = page["events"][0]["record"]
    value = bytearray(bytes.fromhex(record["value"]))
    value[-1] ^= 1
    with pytest.raises(InvalidProof):
        _verify_entry(page, record | {"value": value.hex()})
    other = page["events"][1]["record"]
    with pytest.raises(InvalidProof):
        _verify_entry(page, record | {"value": other["value"]})


def test_empty_log_of_a_registered_vehicle(log_chain: LogChain) -> None:
    log_chain.register("saic:1")
    page = log_chain.get("/vehicles/saic:1/access-log")
    assert page["events"] == [] and page["size"] == 0
    assert page["next_before"] is None
    # The size counter is written at registration: the empty log is proven empty.
    assert page["size_proof"]["value"] == (0).to_bytes(8, "big").hex()
    assert page["app_hash"] == log_chain.get("/blocks/1")["app_hash"]


def test_unknown_vehicle_and_member_are_404(log_chain: LogChain) -> None:
    doc = log_chain.get("/vehicles/saic:404/access-log", 404)
    assert doc["error"]["code"] == "not_found"
    doc = log_chain.get("/members/nobody/access-log", 404)
    assert doc["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": -1},
        {"before": -1},
        {"before": 2**63},
        {"height": -1},
    ],
)
def test_invalid_page_params_are_a_typed_400(log_chain: LogChain, params: dict[str, int]) -> None:
    log_chain.register("saic:1")
    log_chain.append("saic:1", 1)
    for path in ("/vehicles/saic:1/access-log", "/members/saic/access-log"):
        doc = log_chain.get(path, 400, **params)
        assert doc["error"]["code"] == "bad_request" and doc["error"]["message"]


def test_invalid_non_integer_cursor_is_422(log_chain: LogChain) -> None:
    doc = log_chain.get("/vehicles/saic:1/access-log", 422, before="x")
    assert doc["error"]["code"] == "bad_request"


def test_height_outside_the_window_is_404(log_chain: LogChain) -> None:
    log_chain.register("saic:1")
    doc = log_chain.get("/vehicles/saic:1/access-log", 404, height=99)
    assert doc["error"]["code"] == "height_unavailable"


def test_cursor_above_the_size_starts_at_the_newest(log_chain: LogChain) -> None:
    log_chain.register("saic:1")
    log_chain.append("saic:1", 3)
    page = log_chain.get("/vehicles/saic:1/access-log", before=1000)
    assert [e["seq"] for e in page["events"]] == [2, 1, 0]
    assert log_chain.get("/vehicles/saic:1/access-log", before=0)["events"] == []


def test_oem_log_covers_its_vehicles_and_proves_pointer_and_event(log_chain: LogChain) -> None:
    log_chain.register("saic:1")
    log_chain.register("saic:2")
    log_chain.register("geely:1")
    log_chain.append("saic:1", 2)
    log_chain.append("geely:1", 1)
    log_chain.append("saic:2", 1, "release")
    page = log_chain.get("/members/saic/access-log", limit=2)
    assert page["oem"] == "saic" and page["size"] == 3
    got = [(e["oem_seq"], e["event"]["vehicle_id"], e["seq"]) for e in page["events"]]
    assert got == [(2, "saic:2", 0), (1, "saic:1", 1)]
    for e in page["events"]:
        assert e["pointer"]["key"] == log.compute_oem_log_key("saic", e["oem_seq"]).hex()
        _verify_entry(page, e["pointer"])
        _verify_entry(page, e["record"])
    rest = log_chain.get("/members/saic/access-log", before=page["next_before"])
    assert [e["oem_seq"] for e in rest["events"]] == [0] and rest["next_before"] is None
    geely = log_chain.get("/members/geely/access-log")
    assert [e["event"]["vehicle_id"] for e in geely["events"]] == ["geely:1"]
    assert log_chain.get("/members/bosch/access-log")["events"] == []


def test_openapi_documents_response_schemas_and_errors(log_chain: LogChain) -> None:
    doc = log_chain.get("/openapi.json")
    for path in ("/vehicles/{vehicle_id}/access-log", "/members/{oem}/access-log"):
        op = doc["paths"][path]["get"]
        assert set(op["responses"]) >= {"200", "400", "404", "422"}
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ok.endswith("AccessLogPage")
        bad = op["responses"]["400"]["content"]["application/json"]["schema"]["$ref"]
        assert bad.endswith("ErrorDocument")
    names = set(doc["components"]["schemas"])
    assert {"AccessEventModel", "ProvenValue", "ProofOp", "OemAccessLogEntry"} <= names


def test_answers_match_their_declared_response_models(log_chain: LogChain) -> None:
    """The routes return pre-encoded JSON: the documented models must still describe it."""
    log_chain.register("saic:1")
    empty = log_chain.get("/vehicles/saic:1/access-log")
    log_chain.append("saic:1", 3)
    for doc in (empty, log_chain.get("/vehicles/saic:1/access-log")):
        assert AccessLogPage.model_validate(doc).model_dump(mode="json") == doc
    oem = log_chain.get("/members/saic/access-log")
    assert OemAccessLogPage.model_validate(oem).model_dump(mode="json") == oem
    assert log_chain.http.get("/members/saic/access-log").headers["content-type"] == (
        "application/json"
    )
