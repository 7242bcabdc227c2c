"""``carchain demo --serve``: the demo's chain stays up for the explorer, until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from carchain.cli.main import app
from carchain.sim.embedded import find_free_port

VEHICLES = 52  # enough for the demo to drive, so that gateways anchor


def read_line_with(proc: subprocess.Popen[str], prefix: str, deadline_s: float) -> str:
    """Return the first stdout line starting with ``prefix`` (the process still running)."""
    end = time.monotonic() + deadline_s
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(prefix):
            return line.strip()
        if time.monotonic() > end:
            break
    raise AssertionError(f"no {prefix!r} line; exit code {proc.poll()}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    port = find_free_port()
    home = tmp_path / "demo"
    cmd = [sys.executable, "-m", "carchain.cli.main", "demo", "--classic",
           "--vehicles", str(VEHICLES), "--no-case", "--serve",
           "--home", str(home), "--port", str(port)]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        yield proc, f"http://127.0.0.1:{port}", home
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_demo_serve_keeps_the_chain_up_for_the_explorer(
    served: tuple[subprocess.Popen[str], str, Path],
) -> None:
    proc, url, home = served
    line = read_line_with(proc, "explorer:", 300)
    assert f"{url}/explorer/" in line
    with httpx.Client(base_url=url, timeout=10) as http:
        page = http.get("/explorer/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        vehicles = http.get("/vehicles", params={"limit": 1000}).json()["vehicles"]
        assert len(vehicles) == VEHICLES
        assert http.get("/anchors").json()["anchors"], "the demo's gateways anchored"
        assert http.get("/overview").json()["height"] > 1
    assert (home / "node").is_dir() and (home / "data").is_dir()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0


def test_demo_refuses_a_home_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("mine")
    result = CliRunner().invoke(app, ["demo", "--home", str(tmp_path / "taken")])
    assert result.exit_code == 1
    assert "invalid_option" in result.output and "not empty" in result.output
    assert (tmp_path / "taken" / "file").read_text() == "mine"


def test_demo_serve_refuses_a_busy_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        result = CliRunner().invoke(app, ["demo", "--serve", "--port", str(busy)])
    assert result.exit_code == 1
    assert "port_in_use" in result.output
    assert not list(tmp_path.iterdir())
