"""``GET /members/{oem}/sealed-cases`` (the OEM sees every case touching its cars, never
the case reference) and ``GET /vehicles/{id}/cases`` (the owner sees noticed cases only)."""

from __future__ import annotations

import pytest

from carchain.core.case_records import DAY_MS
from carchain.sdk.proofs import verify_state_proof
from tests.core.lawful_world import get_case
from tests.lawful_node import NodeChain, node_chain, run_case

__all__ = ["node_chain"]


def test_oem_sees_sealed_cases_without_the_case_reference(node_chain: NodeChain) -> None:
    case_id = run_case(node_chain, notice_delay_ms=60 * DAY_MS)
    case = get_case(node_chain, case_id)  # type: ignore[arg-type]
    page = node_chain.get("/members/saic/sealed-cases")
    assert page["size"] == 2 and page["next_start"] is None
    by_vehicle = {e["vehicle_id"]: e for e in page["entries"]}
    entry = by_vehicle["saic:1"]
    assert (entry["case_id"], entry["legal_basis"], entry["authority"], entry["court"]) == (
        case_id,
        "rtsl_accident",
        "police",
        "court2",
    )
    assert entry["noticed"] is False and entry["state"] == "authorized"
    assert entry["categories"] == ["crash_pulse", "location"]
    assert entry["keys_released"] == 1 and entry["first_release_ms"] > 0
    assert entry["notice_due_ms"] == case.notice_due_ms
    assert page["vehicles"] == [
        {"vehicle_id": "saic:1", "cases": 1, "sealed": 1, "keys_released": 1},
        {"vehicle_id": "saic:2", "cases": 1, "sealed": 1, "keys_released": 1},
    ]
    # The case reference hash appears nowhere in the OEM's view.
    text = str(page)
    assert case.case_ref.hex() not in text and "case_ref" not in text
    app_hash = bytes.fromhex(page["app_hash"])
    for e in page["entries"]:
        p = e["pointer"]
        value = bytes.fromhex(p["value"])
        verify_state_proof(app_hash, "lawful_access", bytes.fromhex(p["key"]), value, p["proof"])
    assert node_chain.get("/members/geely/sealed-cases")["entries"] == []


def test_owner_view_shows_only_noticed_cases(node_chain: NodeChain) -> None:
    sealed = run_case(node_chain, notice_delay_ms=60 * DAY_MS)
    assert node_chain.get("/vehicles/saic:1/cases")["cases"] == []
    noticed = run_case(node_chain, notice_delay_ms=0)
    doc = node_chain.get("/vehicles/saic:1/cases")
    assert [c["case"]["case_id"] for c in doc["cases"]] == [noticed]
    entry = doc["cases"][0]
    assert entry["case"]["case_ref"] == get_case(node_chain, noticed).case_ref.hex()  # type: ignore[arg-type]
    assert entry["releases"]["keys"] == 1
    app_hash = bytes.fromhex(doc["app_hash"])
    for name in ("pointer", "case_proof", "releases_proof"):
        p = entry[name]
        value = bytes.fromhex(p["value"])
        verify_state_proof(app_hash, "lawful_access", bytes.fromhex(p["key"]), value, p["proof"])
    assert sealed != noticed
    assert node_chain.get("/vehicles/geely:1/cases")["cases"] == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"start": -1}])
def test_invalid_sealed_case_pages(node_chain: NodeChain, params: dict[str, int]) -> None:
    node_chain.get("/members/saic/sealed-cases", status=400, **params)


def test_unknown_vehicle_or_member_is_404(node_chain: NodeChain) -> None:
    assert node_chain.get("/vehicles/saic:404/cases", status=404)["error"]["code"] == "not_found"
    assert (
        node_chain.get("/members/nobody/sealed-cases", status=404)["error"]["code"] == "not_found"
    )
    node_chain.get("/members/sa:ic/sealed-cases", status=422)


def test_openapi_documents_the_views(node_chain: NodeChain) -> None:
    doc = node_chain.get("/openapi.json")
    for path in (
        "/transparency",
        "/transparency/annual",
        "/members/{oem}/sealed-cases",
        "/vehicles/{vehicle_id}/cases",
    ):
        ok = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"]["$ref"].startswith("#/components/schemas/")
    case_schema = doc["components"]["schemas"]["Case"]
    assert "case_ref" in case_schema["properties"]
    sealed = doc["components"]["schemas"]["SealedCaseEntry"]
    assert "case_ref" not in sealed["properties"]


def test_holds_route_hides_a_sealed_case_hold_until_notice(node_chain: NodeChain) -> None:
    sealed = run_case(node_chain, notice_delay_ms=60 * DAY_MS)
    holds = node_chain.get("/vehicles/saic:1/holds")["holds"]
    assert all(h["case_id"] != sealed for h in holds)
    noticed = run_case(node_chain, notice_delay_ms=0)
    holds = node_chain.get("/vehicles/saic:1/holds")["holds"]
    assert [h["case_id"] for h in holds] == [noticed]
