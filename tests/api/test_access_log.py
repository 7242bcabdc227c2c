"""GET /vehicles/{id}/access-log: a vehicle's events newest first, paged, each with a state
proof at one height; the SDK checks every proof and that the page is complete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from carchain.errors import InvalidProof
from carchain.sdk.proofs import verify_state_proof
from tests.api.test_api import Api, _api, assert_error
from tests.core.sharing import grant_body, request_body
from tests.core.test_vehicles import register_body

FAR = 2**62


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from _api(tmp_path, loop=True)


@pytest.fixture
def logged(api: Api) -> Api:
    """saic:1 (owned by owner-1) with a grant to bosch and bosch's approved request."""
    api.commit("saic", register_body("saic:1"))
    api.commit("owner-1", grant_body(expires_ms=FAR))
    api.commit("bosch", request_body())
    return api


def test_access_log_newest_first_with_proofs(logged: Api) -> None:
    doc = logged.get("/vehicles/saic:1/access-log")
    assert doc["size"] == 3
    assert [e["event"]["kind"] for e in doc["events"]] == ["approved", "request", "grant"]
    assert [e["event"]["seq"] for e in doc["events"]] == [2, 1, 0]
    assert doc["next_before"] is None
    app_hash = bytes.fromhex(logged.get(f"/blocks/{doc['proof_height']}")["app_hash"])
    for entry in doc["events"]:
        key, value = bytes.fromhex(entry["key"]), bytes.fromhex(entry["value"])
        verify_state_proof(app_hash, "access", key, value, entry["proof"])


def test_access_log_pages(logged: Api) -> None:
    first = logged.get("/vehicles/saic:1/access-log", limit=2)
    assert [e["event"]["seq"] for e in first["events"]] == [2, 1]
    assert first["next_before"] == 1
    rest = logged.get("/vehicles/saic:1/access-log", limit=2, before=first["next_before"])
    assert [e["event"]["kind"] for e in rest["events"]] == ["grant"]
    assert rest["next_before"] is None


def test_sdk_access_log_verified(logged: Api) -> None:
    events, cursor = logged.sdk().access_log_verified("saic:1", limit=2)
    assert [(e.kind, e.actor_member) for e in events] == [
        ("approved", "bosch"),
        ("request", "bosch"),
    ]
    assert cursor == 1
    events, cursor = logged.sdk().access_log_verified("saic:1", before=1)
    assert [e.kind for e in events] == ["grant"] and cursor is None


def _hostile(api: Api, change: Any) -> Any:
    client = api.sdk()
    honest = client.access_log

    def lying(vehicle_id: str, before: int | None = None, limit: int = 20) -> dict[str, Any]:
        doc = honest(vehicle_id, before, limit)
        change(doc)
        return doc

    client.access_log = lying  # type: ignore[method-assign]
    return client


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["events"].pop(1),  # an event left out
        lambda d: d.update(size=2),  # a smaller log claimed
        lambda d: d["events"][0].update(value=d["events"][1]["value"]),  # another event's value
        lambda d: d["events"][0].update(value=msgspec.msgpack.encode({"seq": 2}).hex()),
        lambda d: d["events"][0].pop("proof"),
        lambda d: d.pop("size_proof"),
    ],
)
def test_invalid_access_log_answers_are_refused_by_the_sdk(logged: Api, change: Any) -> None:
    with pytest.raises(InvalidProof):
        _hostile(logged, change).access_log_verified("saic:1")


def test_access_log_of_vehicle_without_events(api: Api) -> None:
    doc = api.get("/vehicles/saic:9/access-log")
    assert (doc["size"], doc["events"], doc["next_before"]) == (0, [], None)
    assert api.sdk().access_log_verified("saic:9") == ([], None)


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/vehicles/not-a-vehicle/access-log", {}, 422, "invalid_body"),
        ("/vehicles/saic:1/access-log", {"limit": 0}, 422, "bad_request"),
        ("/vehicles/saic:1/access-log", {"limit": 101}, 422, "bad_request"),
        ("/vehicles/saic:1/access-log", {"before": -1}, 422, "bad_request"),
    ],
)
def test_invalid_access_log_queries(
    api: Api, path: str, params: dict[str, Any], status: int, code: str
) -> None:
    assert_error(api.http.get(path, params=params), status, code)


# --- the OEM's log: every event of all its vehicles ---------------------------------------


def test_oem_access_log_covers_all_its_vehicles(logged: Api) -> None:
    logged.commit("saic", register_body("saic:2"))
    logged.commit("owner-1", grant_body("saic:2", expires_ms=FAR))
    doc = logged.get("/oems/saic/access-log")
    assert doc["size"] == 4
    assert [
        (e["oem_seq"], e["event"]["vehicle_id"], e["event"]["kind"]) for e in doc["events"]
    ] == [
        (3, "saic:2", "grant"),
        (2, "saic:1", "approved"),
        (1, "saic:1", "request"),
        (0, "saic:1", "grant"),
    ]
    pairs, cursor = logged.sdk().oem_access_log_verified("saic", limit=3)
    assert [n for n, _ in pairs] == [3, 2, 1] and cursor == 1
    assert logged.sdk().oem_access_log_verified("geely") == ([], None)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["events"].pop(0),
        lambda d: d["events"][0].update(pointer=d["events"][1]["pointer"]),
        lambda d: d["events"][0].update(value=d["events"][1]["value"]),
        lambda d: d["events"][1].pop("pointer"),
    ],
)
def test_invalid_oem_access_log_answers_are_refused(logged: Api, change: Any) -> None:
    client = logged.sdk()
    honest = client.oem_access_log

    def lying(oem: str, before: int | None = None, limit: int = 20) -> dict[str, Any]:
        doc = honest(oem, before, limit)
        change(doc)
        return doc

    client.oem_access_log = lying  # type: ignore[method-assign]
    with pytest.raises(InvalidProof):
        client.oem_access_log_verified("saic")


def test_invalid_oem_access_log_query(api: Api) -> None:
    assert_error(api.http.get("/oems/bad oem/access-log"), 422, "invalid_body")
