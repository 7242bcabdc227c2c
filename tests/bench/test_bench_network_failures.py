"""The network benchmark counts a timed-out or broken RPC instead of crashing (issue 14:
it died twice under load with an ``httpx.ReadTimeout`` traceback and printed no rows)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_network.py"
RPC = "http://127.0.0.1:9"  # never dialled: every request goes to the mock transport


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_network", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_network", module)
    spec.loader.exec_module(module)
    return module


def _txs(client: int, count: int) -> list[bytes]:
    return [f"tx-{client}-{i}".encode() for i in range(count)]


def test_every_request_timing_out_is_counted_and_the_row_printed(bench: ModuleType) -> None:
    calls: list[str] = []

    def timeout(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ReadTimeout("timed out", request=request)

    clients = [_txs(c, 2 * bench.BATCH) for c in range(2)]
    transport = httpx.MockTransport(timeout)
    run = asyncio.run(bench.drive([RPC], clients, 1000, 0.1, "broadcast_tx_async", transport))
    assert run.send_failed == sum(run.sent) > 0  # every batch posted failed
    assert (run.submitted, run.committed, run.failed) == (0, 0, 0)
    assert run.poll_errors >= 1 and "GET" in calls and "POST" in calls
    row = bench.format_row(run)
    assert row.split()[:3] == ["1000", "0", str(run.send_failed)]
    assert "send failed" in bench.HEADER and "poll errors" in bench.HEADER


def test_failed_batches_are_apart_from_the_committed_ones(bench: ModuleType) -> None:
    """One client's node times out, the other's commits: each is counted where it belongs,
    and a block read that times out once is read again (no transaction lost)."""
    blocks: list[list[bytes]] = []
    status_reads = block_reads = 0

    def node(request: httpx.Request) -> httpx.Response:
        nonlocal status_reads, block_reads
        if request.url.port == 2:
            raise httpx.ReadTimeout("timed out", request=request)
        if request.method == "POST":
            blocks.append([base64.b64decode(c["params"]["tx"]) for c in _calls(request)])
            return httpx.Response(200, json=[])
        if request.url.path == "/status":
            status_reads += 1
            height = 0 if status_reads == 1 else len(blocks)
            return httpx.Response(200, json={"result": {"sync_info": {
                "latest_block_height": str(height)}}})  # fmt: skip
        height = int(request.url.params["height"])
        if request.url.path == "/block":
            block_reads += 1
            if block_reads == 1:
                raise httpx.ReadTimeout("timed out", request=request)
        txs = [base64.b64encode(t).decode() for t in blocks[height - 1]]
        if request.url.path == "/block":
            return httpx.Response(200, json={"result": {"block": {"data": {"txs": txs}}}})
        return httpx.Response(200, json={"result": {"txs_results": [{"code": 0}] * len(txs)}})

    clients = [_txs(c, bench.BATCH) for c in range(2)]
    urls = ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    run = asyncio.run(
        bench.drive(urls, clients, 100, 0.1, "broadcast_tx_async", httpx.MockTransport(node))
    )
    assert run.send_failed == bench.BATCH  # the second client's one batch
    assert run.submitted == run.committed == bench.BATCH and run.failed == 0
    assert len(run.latencies) == bench.BATCH
    assert run.poll_errors == 1 and block_reads == 2  # the block read again after a timeout
    assert {hashlib.sha256(t).digest() for t in blocks[0]} == {
        hashlib.sha256(t).digest() for t in clients[0]
    }


def _calls(request: httpx.Request) -> list[dict[str, Any]]:
    doc = json.loads(request.content)
    assert isinstance(doc, list)
    return doc
