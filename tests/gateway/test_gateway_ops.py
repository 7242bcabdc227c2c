"""The gateway's operations routes: /health, /ready (ready, and not ready without its
anchoring loop or node), /metrics parsed with prometheus_client (batches by result,
anchors, anchored batches, anchoring lag, request latency by route template)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from carchain.errors import InvalidBatch
from carchain.gateway.app import create_gateway_app
from carchain.gateway.service import Gateway
from carchain.sdk.client import Client
from carchain.sim.embedded import find_free_port
from carchain.telemetry.gateway import GatewayMetrics
from tests.conftest import seeded_key
from tests.dataplane import World, wait_for

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    resp = httpx.get(f"{url}/metrics", timeout=10)
    assert resp.status_code == 200
    out: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_health_and_ready(world: World) -> None:
    url = world.gateway.url
    assert httpx.get(f"{url}/health", timeout=5).json() == {"status": "ok"}
    doc = httpx.get(f"{url}/ready", timeout=5).json()
    assert doc["status"] == "ready" and doc["node_height"] >= 1


def test_metrics_count_batches_anchors_and_lag(world: World) -> None:
    url = world.gateway.url
    car = world.cars["saic:car-1"]
    before = scrape(url)
    upload = car.upload(n=5, start_ms=int(time.time() * 1000) - 60_000, window_ms=10**9)
    world.gclient.submit(upload.body)
    with pytest.raises(InvalidBatch):
        world.gclient.submit(b"\x00" * 100)
    world.wait_anchored()
    wait_for(
        lambda: (
            value(scrape(url), "carchain_gateway_anchored_batches_total")
            > value(before, "carchain_gateway_anchored_batches_total")
        ),
        what="the anchor counted",
    )
    after = scrape(url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("carchain_gateway_batches_received_total", result="ok") == 1
    assert delta("carchain_gateway_batches_received_total", result="invalid_batch") == 1
    assert delta("carchain_gateway_anchors_submitted_total") >= 1
    assert delta("carchain_gateway_anchored_batches_total") == 1
    assert delta("carchain_gateway_anchoring_lag_seconds_count") >= 1
    assert value(after, "carchain_gateway_unanchored_batches") == 0
    assert value(after, "carchain_gateway_oldest_unanchored_age_seconds") == 0
    key = {"method": "POST", "route": "/batches", "status": "200"}
    assert delta("carchain_http_request_duration_seconds_count", **key) == 1


def test_not_ready_without_anchoring_loop_or_node(tmp_path: Path, world: World) -> None:
    gw = Gateway(
        tmp_path / "gw", "saic", seeded_key("saic"), seeded_key("custodian/saic").public_key,
        world.node.url,
    )  # fmt: skip
    try:
        with TestClient(create_gateway_app(gw)) as http:
            assert http.get("/health").json() == {"status": "ok"}
            err = assert_not_ready(http.get("/ready"))
            assert err["fields"]["reason"] == "anchoring loop not running"
            live = gw.client
            gw.client = Client(f"http://127.0.0.1:{find_free_port()}")  # nothing listens
            try:
                err = assert_not_ready(http.get("/ready"))
            finally:
                gw.client.close()
                gw.client = live
            assert "node not ready (node_unavailable)" in err["fields"]["reason"]
            assert http.get("/metrics").status_code == 200
    finally:
        gw.close()


def test_a_hung_node_makes_the_gateway_not_ready_quickly(tmp_path: Path, world: World) -> None:
    """A node that accepts connections and never answers: /ready says not ready within
    its own short limit, not after the client's 30 s (a worker thread held per probe)."""
    gw = Gateway(
        tmp_path / "gw", "saic", seeded_key("saic"), seeded_key("custodian/saic").public_key,
        world.node.url,
    )  # fmt: skip
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)  # never accepted: requests wait for an answer that never comes
    live, gw.client = gw.client, Client(f"http://127.0.0.1:{hung.getsockname()[1]}")
    try:
        with TestClient(create_gateway_app(gw)) as http:
            started = time.monotonic()
            err = assert_not_ready(http.get("/ready"))
            assert time.monotonic() - started < 15  # the client's own timeout is 30 s
            assert "node not ready (node_unavailable)" in err["fields"]["reason"]
    finally:
        gw.client.close()
        gw.client = live
        hung.close()
        gw.close()


def assert_not_ready(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 503, resp.text
    err: dict[str, Any] = resp.json()["error"]
    assert err["code"] == "not_ready" and err["message"].startswith("gateway not ready")
    return err


def test_lag_is_measured_from_acceptance_to_the_anchor() -> None:
    now = [100.0]
    m = GatewayMetrics(clock=lambda: now[0])
    m.record_batch("")
    now[0] = 101.0
    m.record_batch("")
    m.record_batch("replayed_batch")  # refused: no lag clock
    now[0] = 103.0
    assert m.compute_oldest_age() == 3.0
    m.record_anchor(1)  # the oldest batch: 3 s
    assert m.compute_oldest_age() == 2.0
    m.record_anchor(1)
    assert m.compute_oldest_age() == 0.0
    m.record_anchor(4)  # batches accepted before a restart: counted, not measured
    samples = {s.name: s.value for f in m.registry.collect() for s in f.samples if not s.labels}
    assert samples["carchain_gateway_anchors_submitted_total"] == 3
    assert samples["carchain_gateway_anchored_batches_total"] == 6
    assert samples["carchain_gateway_anchoring_lag_seconds_count"] == 2
    assert samples["carchain_gateway_anchoring_lag_seconds_sum"] == 5.0
