"""``carchain network`` end to end on a one-validator localnet, and its configuration."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carchain.cli.main import app as cli
from carchain.errors import CarchainError
from carchain.network import localnet, processes
from carchain.network.cometconfig import TUNING, apply_settings
from carchain.network.layout import load_layout
from tests.network.conftest import get_height, require_network_setup, wait_for

pytestmark = pytest.mark.network


def test_network_lifecycle_through_the_cli(tmp_path: Path) -> None:
    require_network_setup()
    home = tmp_path / "net"
    runner = CliRunner()
    try:
        out = runner.invoke(cli, ["network", "up", "--validators", "1", "--home", str(home)])
        assert out.exit_code == 0, out.output
        layout = load_layout(home)
        node = layout.nodes[0]
        wait_for(lambda: get_height(node) >= 2, 30, "blocks")
        # Loopback only, distinct ports, no profiling or metrics listeners.
        cfg = tomllib.loads((layout.get_comet_home(node) / "config" / "config.toml").read_text())
        assert cfg["rpc"]["laddr"] == f"tcp://127.0.0.1:{node.rpc_port}"
        assert cfg["p2p"]["laddr"] == f"tcp://127.0.0.1:{node.p2p_port}"
        # ABCI over a private Unix socket in the app home, not a TCP port.
        sock = (layout.get_app_home(node) / "abci.sock").resolve()
        assert cfg["proxy_app"] == f"unix://{sock}"
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert cfg["rpc"]["pprof_laddr"] == "" and cfg["instrumentation"]["prometheus"] is False
        ports = {node.p2p_port, node.rpc_port, node.abci_port, node.api_port}
        assert len(ports) == 4
        assert (layout.get_node_dir(node) / "comet.log").exists()
        assert (layout.get_node_dir(node) / "app.log").exists()

        out = runner.invoke(cli, ["network", "status", "--home", str(home)])
        assert out.exit_code == 0 and "node0" in out.output

        app_pid, comet_pid = localnet.get_pid_paths(layout, node)
        old = processes.read_pid(app_pid)
        out = runner.invoke(cli, ["network", "kill", "node0", "--home", str(home)])
        assert out.exit_code == 0, out.output
        assert processes.read_pid(app_pid) is None and processes.read_pid(comet_pid) is None
        height = localnet.get_node_state(layout, node).height
        assert height is None  # nothing answers

        out = runner.invoke(cli, ["network", "restart", "0", "--home", str(home)])
        assert out.exit_code == 0, out.output
        assert processes.read_pid(app_pid) not in (None, old)
        before = wait_for(lambda: get_height(node), 30, "RPC back")
        wait_for(lambda: get_height(node) > before, 30, "blocks after restart")

        out = runner.invoke(cli, ["network", "down", "--home", str(home)])
        assert out.exit_code == 0, out.output
        assert processes.read_pid(app_pid) is None and processes.read_pid(comet_pid) is None
    finally:
        if (home / "network.json").exists():
            localnet.down(home)


def test_invalid_network_commands_fail_cleanly(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["network", "status", "--home", str(tmp_path / "none")])
    assert out.exit_code == 1 and "network_error" in out.output
    with pytest.raises(CarchainError, match="validators must be"):
        localnet.create_network(tmp_path / "n", validators=0)


def test_invalid_config_key_is_refused() -> None:
    text = '[consensus]\ntimeout_commit = "1s"\n'
    assert 'timeout_commit = "200ms"' in apply_settings(
        text, {"consensus": {"timeout_commit": "200ms"}}
    )
    with pytest.raises(CarchainError, match="lacks expected keys"):
        apply_settings(text, {"consensus": {"timeout_comit": "200ms"}})
    assert TUNING["tx_index"]["indexer"] == "null"
