"""The node's operations routes: /health, /ready (ready and not ready), /metrics (parsed
with prometheus_client's parser; values move with blocks and transactions), and the
JSON request log (route templates, never the query string)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from carchain.api.app import create_app
from carchain.node.solo_node import SoloNode
from carchain.storage.database import Database
from carchain.telemetry.logs import JsonFormatter
from tests.api.test_api import Api, _api, assert_error
from tests.conftest import make_genesis
from tests.core.test_vehicles import register_body

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The API with the node's block loop running."""
    yield from _api(tmp_path, loop=True)


@pytest.fixture
def idle(tmp_path: Path) -> Iterator[Api]:
    """The API with no block loop."""
    yield from _api(tmp_path, loop=False)


def scrape(api: Api) -> Samples:
    """Return every sample of /metrics by (name, sorted labels), parsed by prometheus_client."""
    resp = api.http.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_health_is_ok_even_when_not_ready(idle: Api) -> None:
    assert idle.get("/health") == {"status": "ok"}


def test_ready_when_the_block_loop_runs(api: Api) -> None:
    doc = api.get("/ready")
    assert doc["status"] == "ready"
    assert doc["height"] == doc["consensus_height"] == api.node.engine.height


def test_not_ready_without_block_loop_is_503_not_ready(idle: Api) -> None:
    doc = assert_error(idle.http.get("/ready"), 503, "not_ready")
    assert doc["error"]["fields"]["reason"] == "block loop not running"
    assert doc["error"]["fields"]["height"] == 0


def test_not_ready_once_the_node_stops(api: Api) -> None:
    assert api.http.get("/ready").status_code == 200
    api.http.portal.call(api.node.stop)
    assert_error(api.http.get("/ready"), 503, "not_ready")


def test_metrics_move_with_blocks_and_transactions(api: Api) -> None:
    before = scrape(api)
    api.commit("saic", register_body("saic:m1"))
    dup = api.post(api.tx("saic", register_body("saic:m1")), "commit")  # fails in the block
    assert dup.status_code == 422
    failed = dup.json()["result"]["error_code"]
    assert failed == "already_exists"
    api.commit("saic", register_body("saic:m2"))
    after = scrape(api)
    ok = {"type": "vehicle.register", "result": "ok"}
    assert value(after, "carchain_txs_total", **ok) - value(before, "carchain_txs_total", **ok) == 2
    bad = {"type": "vehicle.register", "result": failed}
    assert (
        value(after, "carchain_txs_total", **bad) - value(before, "carchain_txs_total", **bad) == 1
    )
    assert value(after, "carchain_chain_height") == api.node.engine.height >= 3
    for hist in ("carchain_check_tx_seconds", "carchain_finalize_block_seconds"):
        assert value(after, hist + "_count") - value(before, hist + "_count") >= 3
    assert value(after, "carchain_commit_seconds_count") >= 3
    assert value(after, "carchain_block_interval_seconds_count") >= 2
    assert value(after, "carchain_mempool_size") == 0


def test_mempool_size_counts_waiting_transactions(idle: Api) -> None:
    assert value(scrape(idle), "carchain_mempool_size") == 0
    resp = idle.post(idle.tx("saic", register_body("saic:w1")))
    assert resp.status_code == 200, resp.text
    assert value(scrape(idle), "carchain_mempool_size") == 1
    idle.node.produce_block()
    samples = scrape(idle)
    assert value(samples, "carchain_mempool_size") == 0
    assert value(samples, "carchain_chain_height") == 1


def test_request_latency_is_by_route_template(api: Api) -> None:
    api.commit("saic", register_body("saic:r1"))
    api.get("/blocks/1")
    api.get("/nope/secret-path", status=404)
    samples = scrape(api)
    labels = [dict(lbl) for name, lbl in samples if name.startswith("carchain_http_request")]
    routes = {lbl["route"] for lbl in labels}
    assert "/blocks/{height}" in routes
    assert "<unmatched>" in routes
    assert not any("secret" in r or r == "/blocks/1" for r in routes)
    key = {"method": "GET", "route": "/blocks/{height}", "status": "200"}
    assert value(samples, "carchain_http_request_duration_seconds_count", **key) == 1


def test_each_app_has_its_own_registry_not_the_global_one(tmp_path: Path) -> None:
    nodes = []
    for i in range(2):
        db = Database(tmp_path / f"n{i}.db")
        node = SoloNode(db)
        node.app.init_chain(make_genesis())
        nodes.append(node)
    a, b = (create_app(n) for n in nodes)
    assert a.state.metrics_registry is not b.state.metrics_registry
    names = {m.name for m in REGISTRY.collect()}
    assert not any(n.startswith("carchain") for n in names)
    for n in nodes:
        n.app.close()


def test_json_request_log_has_route_template_and_no_query_string(api: Api) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("carchain.request")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        api.http.get("/vehicles", params={"owner": "ab" * 32, "marker": "PERSONAL-DATA"})
        api.http.get("/blocks/999")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(d["method"], d["route"], d["status"]) for d in lines] == [
        ("GET", "/vehicles", 200),
        ("GET", "/blocks/{height}", 404),
    ]
    for d in lines:
        assert d["logger"] == "carchain.request" and d["level"] == "info"
        assert isinstance(d["duration_ms"], float) and d["duration_ms"] >= 0
    text = stream.getvalue()
    assert "PERSONAL-DATA" not in text and "ab" * 32 not in text and "/blocks/999" not in text
    # The height asked for is in no field; a duration or a time may hold its digits by
    # chance (a 1.999 ms request made this test fail once).
    fields = [str(v) for d in lines for k, v in d.items() if k not in ("duration_ms", "time")]
    assert not any("999" in v for v in fields)


def test_made_up_methods_do_not_grow_the_metrics(idle: Api) -> None:
    """The HTTP parser accepts any method token: each must not become a label value."""
    before = scrape(idle)
    for i in range(50):
        idle.http.request(f"X{i:05d}", "/status")
        idle.http.request("Z" * 2000, "/no/such/route")
    after = scrape(idle)
    methods = {dict(labels).get("method") for _, labels in after} - {None}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}
    assert "OTHER" in methods
    # 100 odd requests add the OTHER series of two (route, status) pairs, not 100 series.
    assert len(after) - len(before) < 60
    other = [labels for _, labels in after if dict(labels).get("method") == "OTHER"]
    assert {dict(labels)["route"] for labels in other} <= {"/status", "<unmatched>"}
