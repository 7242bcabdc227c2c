"""A real ``carchain node start`` process: it prints ``listening on URL`` and
``home: PATH`` once it serves, its ``--log-format json`` request log lines parse and
never carry the query string, and it answers /health, /ready and /metrics."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from carchain.node.home import NodeConfig, NodeHome
from tests.cli.test_cli import free_port
from tests.conftest import CHAIN_ID, Processes, make_genesis
from tests.node.test_home_lock import CARCHAIN, DEADLINE_S

MARKER = "PERSONAL-DATA-MARKER"


def start(processes: Processes, *args: str) -> subprocess.Popen[str]:
    """Start ``carchain ARGS`` with text pipes (killed by pid when the test ends)."""
    proc = processes.start(
        [CARCHAIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return proc  # type: ignore[return-value]


def read_lines_into(stream: object, out: queue.Queue[str]) -> threading.Thread:
    """Copy each line of ``stream`` into ``out`` from a daemon thread."""

    def pump() -> None:
        for line in stream:  # type: ignore[attr-defined]
            out.put(line.rstrip("\n"))

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    return t


def wait_for_lines(out: queue.Queue[str], count: int, proc: subprocess.Popen[str]) -> list[str]:
    """Return the first ``count`` lines of ``out`` (bounded wait; fail if ``proc`` exits)."""
    lines: list[str] = []
    deadline = time.monotonic() + DEADLINE_S
    while len(lines) < count:
        assert time.monotonic() < deadline, lines
        assert proc.poll() is None, lines
        try:
            lines.append(out.get(timeout=0.1))
        except queue.Empty:
            continue
    return lines


def test_node_start_prints_listening_and_home_and_logs_json(
    tmp_path: Path, processes: Processes
) -> None:
    home = NodeHome(tmp_path / "home")
    port = free_port()
    home.create(make_genesis(), NodeConfig(chain_id=CHAIN_ID, api_port=port))
    proc = start(processes, "node", "start", "--home", str(home.path), "--log-format", "json")
    stdout: queue.Queue[str] = queue.Queue()
    read_lines_into(proc.stdout, stdout)
    url = f"http://127.0.0.1:{port}"
    assert wait_for_lines(stdout, 2, proc) == [
        f"listening on {url}",
        f"home: {home.path.resolve()}",
    ]
    # Printed once it serves: the API answers right away, no retry needed.
    assert httpx.get(f"{url}/health", timeout=5).json() == {"status": "ok"}
    assert httpx.get(f"{url}/ready", timeout=5).json()["status"] == "ready"
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    names = {f.name for f in text_string_to_metric_families(metrics)}
    assert {"carchain_chain_height", "carchain_check_tx_seconds"} <= names
    httpx.get(f"{url}/vehicles", params={"owner": MARKER, "q": MARKER}, timeout=5)
    httpx.get(f"{url}/blocks/424242", timeout=5)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=DEADLINE_S)
    docs = [json.loads(line) for line in err.splitlines() if line.strip()]  # every line is JSON
    requests = [d for d in docs if d["logger"] == "carchain.request"]
    seen = [(d["method"], d["route"], d["status"]) for d in requests]
    assert ("GET", "/health", 200) in seen
    assert ("GET", "/blocks/{height}", 404) in seen
    assert any(route == "/vehicles" for _, route, _ in seen)
    assert all(isinstance(d["duration_ms"], float) for d in requests)
    assert MARKER not in err and "424242" not in err
    assert "Traceback" not in err


def test_node_start_refuses_an_unknown_log_format(tmp_path: Path, processes: Processes) -> None:
    home = NodeHome(tmp_path / "home")
    home.create(make_genesis(), NodeConfig(chain_id=CHAIN_ID, api_port=free_port()))
    proc = start(processes, "node", "start", "--home", str(home.path), "--log-format", "xml")
    out, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 2
    assert "log format must be one of text, json" in out + err
    assert "listening on" not in out
    assert "Traceback" not in err
