"""A real ``carchain gateway start --log-format json`` process prints ``listening on
URL`` and ``home: PATH`` once it serves, is ready, and logs JSON request lines."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from carchain.sdk.keystore import save_key
from carchain.sim.embedded import EmbeddedNode, find_free_port
from tests.conftest import Processes, make_genesis, seeded_key
from tests.gateway.test_gateway_cli import PASSPHRASE, carchain
from tests.node.test_serve_output import read_lines_into, wait_for_lines

DEADLINE_S = 60.0


@pytest.mark.timeout(180)
def test_gateway_start_prints_listening_and_home(tmp_path: Path, processes: Processes) -> None:
    keyring = tmp_path / "keys"
    save_key(keyring / "saic.json", seeded_key("saic"), PASSPHRASE, n=2**10)
    save_key(keyring / "custodian.json", seeded_key("custodian/saic"), PASSPHRASE, n=2**10)
    env = dict(os.environ, CARCHAIN_PASSPHRASE=PASSPHRASE, CARCHAIN_KEYRING=str(keyring))
    with EmbeddedNode(tmp_path / "node", make_genesis(), block_interval_ms=50) as node:
        port, home = find_free_port(), tmp_path / "gateway"
        init = carchain(
            "gateway", "init", "--home", str(home), "--oem", "saic", "--key", "saic",
            "--custodian-key", "custodian", "--node", node.url, "--port", str(port), env=env,
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        cmd = [sys.executable, "-m", "carchain.cli.main", "gateway", "start", "--home", str(home)]
        proc = processes.start(
            [*cmd, "--log-format", "json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        lines: queue.Queue[str] = queue.Queue()
        read_lines_into(proc.stdout, lines)
        url = f"http://127.0.0.1:{port}"
        got = wait_for_lines(lines, 2, proc)  # type: ignore[arg-type]
        assert got == [f"listening on {url}", f"home: {home.resolve()}"]
        assert httpx.get(f"{url}/ready", timeout=10).json()["status"] == "ready"
        httpx.get(f"{url}/batches", params={"vehicle_id": "MARKER-VIN"}, timeout=10)
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=DEADLINE_S)
    docs = [json.loads(line) for line in err.splitlines() if line.strip()]
    routes = {(d["route"], d["status"]) for d in docs if d["logger"] == "carchain.request"}
    assert ("/ready", 200) in routes
    assert "MARKER-VIN" not in err and PASSPHRASE not in err
