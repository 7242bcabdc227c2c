"""``carchain network logs NODE`` on a laid-out network home (no CometBFT needed): the
last lines, --lines, --comet, --follow (new lines, truncation), unknown nodes and
missing logs; the app nodes' log format recorded in node.json; and, network-marked,
JSON logs of a real one-validator localnet with its listening/home lines."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from carchain.cli.main import app as cli
from carchain.errors import NetworkError
from carchain.network import localnet
from carchain.network.layout import NetworkLayout, NodeLayout
from carchain.network.logs import follow_lines, get_log_path, read_last_lines
from tests.conftest import Processes
from tests.network.conftest import get_height, require_network_setup, wait_for

DEADLINE_S = 30.0


def lay_out(home: Path, nodes: int = 2) -> NetworkLayout:
    """Write a network home as ``network up`` lays it out (node dirs, node.json, logs)."""
    layout = NetworkLayout(home, "logs-test", [])
    for i in range(nodes):
        node = NodeLayout(f"node{i}", i, 1000 + i, 2000 + i, 3000 + i, 4000 + i)
        layout.nodes.append(node)
        (layout.get_app_home(node) / "data").mkdir(parents=True)
        (layout.get_app_home(node) / "node.json").write_text(json.dumps({"api_port": 1}))
    layout.save()
    return layout


def write_log(layout: NetworkLayout, name: str, kind: str, lines: list[str]) -> Path:
    path = layout.home / name / f"{kind}.log"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def run(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(cli, ["network", "logs", *args])
    return out.exit_code, out.output


def test_logs_print_the_last_lines_of_the_app_log(tmp_path: Path) -> None:
    layout = lay_out(tmp_path)
    write_log(layout, "node1", "app", [f"app line {i}" for i in range(200)])
    write_log(layout, "node1", "comet", ["comet says hi"])
    code, out = run("node1", "--home", str(tmp_path))
    assert code == 0, out
    assert out.splitlines() == [f"app line {i}" for i in range(150, 200)]  # default 50
    code, out = run("1", "--lines", "3", "--home", str(tmp_path))  # by index too
    assert out.splitlines() == ["app line 197", "app line 198", "app line 199"]
    code, out = run("node1", "--comet", "--home", str(tmp_path))
    assert out.splitlines() == ["comet says hi"]
    code, out = run("node1", "--lines", "0", "--home", str(tmp_path))
    assert code == 0 and out == ""


def test_logs_never_pass_terminal_controls_through(tmp_path: Path) -> None:
    """A log line holding escape sequences (a peer's text logged verbatim) cannot drive
    the operator's terminal."""
    layout = lay_out(tmp_path)
    write_log(layout, "node1", "app", ["peer said \x1b[2J\x1b]0;owned\x07 hello"])
    code, out = run("node1", "--home", str(tmp_path))
    assert code == 0, out
    assert "\x1b" not in out and "\x07" not in out
    assert "peer said" in out and "hello" in out


def test_last_lines_of_a_large_log_span_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    lines = [f"{i:06d} " + "x" * 200 for i in range(2000)]  # ~400 kB: several chunks
    path.write_text("\n".join(lines) + "\n")
    last, end = read_last_lines(path, 700)
    assert last == lines[-700:]
    assert end == path.stat().st_size
    assert read_last_lines(path, 10**6)[0] == lines


def test_invalid_logs_of_unknown_node_or_missing_log_or_home(tmp_path: Path) -> None:
    layout = lay_out(tmp_path)
    code, out = run("node7", "--home", str(tmp_path))
    assert code != 0 and "no such node" in out and "Traceback" not in out
    code, out = run("node0", "--home", str(tmp_path))  # never started: no app.log
    assert code != 0 and "no log yet" in out
    code, out = run("node0", "--home", str(tmp_path / "nowhere"))
    assert code != 0 and "no network here" in out
    code, out = run("node0", "--lines", "-1", "--home", str(tmp_path))
    assert code == 2
    with pytest.raises(NetworkError):
        read_last_lines(get_log_path(layout, layout.nodes[0]), 5)


def test_follow_yields_appended_lines_and_survives_truncation(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("old\n")
    _, offset = read_last_lines(path, 1)
    deadline = time.monotonic() + DEADLINE_S
    lines = follow_lines(path, offset, lambda: time.monotonic() > deadline, poll_s=0.01)
    with open(path, "a") as f:
        f.write("new 1\nnew ")
    assert next(lines) == "new 1"
    with open(path, "a") as f:
        f.write("2\n")
    assert next(lines) == "new 2"  # a partial line waits for its end
    path.write_text("after rotation\n")  # truncated: start over
    assert next(lines) == "after rotation"


def test_follow_through_the_cli_prints_new_lines(tmp_path: Path, processes: Processes) -> None:
    layout = lay_out(tmp_path, 1)
    path = write_log(layout, "node0", "app", ["first"])
    cmd = [sys.executable, "-m", "carchain.cli.main", "network", "logs", "node0", "--follow"]
    proc = processes.start(
        [*cmd, "--home", str(tmp_path)], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "first"
    with open(path, "a") as f:
        f.write("second\n")
    assert proc.stdout.readline().strip() == "second"


def test_log_format_is_recorded_per_node_and_validated(tmp_path: Path) -> None:
    layout = lay_out(tmp_path, 1)
    node = layout.nodes[0]
    assert localnet.get_log_format(layout, node) == "text"
    localnet.set_log_format(layout, node, "json")
    assert localnet.get_log_format(layout, node) == "json"
    doc = json.loads((layout.get_app_home(node) / "node.json").read_text())
    assert doc == {"api_port": 1, "log_format": "json"}  # the rest kept
    with pytest.raises(ValueError, match="text, json"):
        localnet.set_log_format(layout, node, "xml")  # type: ignore[arg-type]
    out = CliRunner().invoke(cli, ["network", "up", "--log-format", "xml", "--home", "x"])
    assert out.exit_code == 2 and "log format must be one of text, json" in out.output


@pytest.mark.network
def test_localnet_app_logs_json_with_listening_and_home(tmp_path: Path) -> None:
    require_network_setup()
    home = tmp_path / "net"
    try:
        layout = localnet.up(home, 1, log_format="json")
        node = layout.nodes[0]
        wait_for(lambda: get_height(node) >= 1, DEADLINE_S, "a block")
        httpx.get(f"{node.api_url}/status", params={"secret": "MARKER-1"}, timeout=5)
        code, out = run("node0", "--lines", "1000", "--home", str(home))
        assert code == 0, out
        lines = out.splitlines()
        assert f"listening on {node.api_url}" in lines
        assert f"home: {layout.get_app_home(node).resolve()}" in lines
        logs = [json.loads(line) for line in lines if line.startswith("{")]
        wait_for(lambda: "carchain.request" in read_loggers(home), DEADLINE_S, "request log")
        assert logs and "MARKER-1" not in (home / "node0" / "app.log").read_text()
        ready = httpx.get(f"{node.api_url}/ready", timeout=5)
        assert ready.status_code == 200 and ready.json()["consensus_height"] >= 1
    finally:
        localnet.down(home)


def read_loggers(home: Path) -> set[str]:
    text = (home / "node0" / "app.log").read_text()
    return {json.loads(line)["logger"] for line in text.splitlines() if line.startswith("{")}
