"""One process per node home: a second node (solo or network app) on the same home
fails with one clear line and the first keeps running (issue 7, item 6)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from carchain.errors import ConfigError, HomeLocked
from carchain.node.home import LOCK_FILE, HomeLock, NodeConfig, NodeHome
from tests.cli.test_cli import free_port
from tests.conftest import CHAIN_ID, make_genesis

DEADLINE_S = 30.0
CARCHAIN = str(Path(sys.executable).parent / "carchain")


def test_second_lock_on_a_home_is_refused_until_released(tmp_path: Path) -> None:
    first = HomeLock(tmp_path)
    with pytest.raises(HomeLocked, match=f"pid {os.getpid()}"):
        HomeLock(tmp_path)
    assert (tmp_path / LOCK_FILE).stat().st_mode & 0o777 == 0o600
    first.release()
    first.release()  # idempotent
    with HomeLock(tmp_path):
        pass


def test_invalid_lock_of_a_missing_home_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot lock node home"):
        HomeLock(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


class Procs:
    """Subprocesses a test started, each stopped by its pid at the end."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, argv: list[str]) -> subprocess.Popen[str]:
        """Start ``argv`` in its own session with captured output."""
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "COLUMNS": "80"},
        )
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        """SIGTERM each process by pid, SIGKILL it if it lingers."""
        for proc in self.started:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(5)


@pytest.fixture
def procs() -> Iterator[Procs]:
    """Start subprocesses; they are stopped by pid even if the test fails."""
    p = Procs()
    try:
        yield p
    finally:
        p.stop_all()


def wait_answering(url: str, proc: subprocess.Popen[str]) -> None:
    """Poll ``url`` until it answers (bounded); fail at once if ``proc`` exits."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    pytest.fail(f"{url} never answered")


def assert_one_line_refusal(proc: subprocess.Popen[str]) -> None:
    """The process exits non-zero with exactly one line saying the home is locked."""
    out, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode != 0
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "home_locked" in lines[0] and "in use" in lines[0]
    assert "Traceback" not in err


def test_invalid_second_solo_node_on_one_home_fails_with_one_line(
    tmp_path: Path, procs: Procs
) -> None:
    home = NodeHome(tmp_path / "home")
    port = free_port()
    home.create(make_genesis(), NodeConfig(chain_id=CHAIN_ID, api_port=port))
    first = procs.start([CARCHAIN, "node", "start", "--home", str(home.path)])
    wait_answering(f"http://127.0.0.1:{port}/status", first)
    other_port = free_port()  # another port: only the home is shared
    second = procs.start(
        [CARCHAIN, "node", "start", "--home", str(home.path), "--port", str(other_port)]
    )
    assert_one_line_refusal(second)
    assert first.poll() is None
    assert httpx.get(f"http://127.0.0.1:{port}/status", timeout=5).status_code == 200


def test_invalid_second_app_process_on_one_home_fails_with_one_line(
    tmp_path: Path, procs: Procs
) -> None:
    pytest.importorskip("carchain.engine.abci.protos").get_abci()
    app_home = tmp_path / "app"
    (app_home / "data").mkdir(parents=True)
    api_port = free_port()
    cfg = {"chain_id": CHAIN_ID, "abci_port": 0, "api_port": api_port, "rpc_port": free_port()}
    (app_home / "node.json").write_text(json.dumps(cfg))
    argv = [sys.executable, "-m", "carchain.cli.appnode", "--home", str(app_home)]
    first = procs.start([*argv, "--abci", f"unix://{(app_home / 'abci.sock').resolve()}"])
    wait_answering(f"http://127.0.0.1:{api_port}/status", first)
    sock = app_home / "abci.sock"
    inode = sock.stat().st_ino
    second = procs.start([*argv, "--abci", f"unix://{sock.resolve()}"])
    assert_one_line_refusal(second)
    assert first.poll() is None
    assert sock.stat().st_ino == inode  # the first server's socket was left alone
