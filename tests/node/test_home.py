"""A node's home: loopback-only configuration, genesis and config files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carchain.errors import ConfigError
from carchain.node.home import NodeConfig, NodeHome, validate_loopback
from tests.conftest import make_genesis


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "::1", "localhost"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    validate_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "8.8.8.8", "example.com", ""]
)
def test_invalid_non_loopback_hosts(host: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_loopback(host)
    assert info.value.code == "invalid_config"


def test_home_round_trip_and_no_overwrite(tmp_path: Path) -> None:
    home = NodeHome(tmp_path / "n")
    assert not home.exists()
    home.create(make_genesis(), NodeConfig(chain_id="carchain-test", api_port=9999))
    assert home.exists()
    assert home.load_genesis() == make_genesis()
    assert home.load_config().api_port == 9999
    with pytest.raises(ConfigError):
        home.create(make_genesis(), NodeConfig(chain_id="carchain-test"))


def test_invalid_config_files(tmp_path: Path) -> None:
    home = NodeHome(tmp_path / "n")
    with pytest.raises(ConfigError):
        home.create(make_genesis(), NodeConfig(chain_id="c", api_host="0.0.0.0"))
    assert not home.exists()
    home.create(make_genesis(), NodeConfig(chain_id="c"))
    doc = json.loads(home.config_path.read_text())
    home.config_path.write_text(json.dumps({**doc, "api_host": "0.0.0.0"}))
    with pytest.raises(ConfigError):  # edited by hand to listen on every interface
        home.load_config()
    for bad in ("{", "[]", json.dumps({**doc, "surprise": 1})):
        home.config_path.write_text(bad)
        with pytest.raises(ConfigError):
            home.load_config()
    home.genesis_path.unlink()
    with pytest.raises(ConfigError):
        home.load_genesis()


def test_state_versions_default_and_invalid_values(tmp_path: Path) -> None:
    home = NodeHome(tmp_path / "n")
    home.create(make_genesis(), NodeConfig(chain_id="c"))
    assert home.load_config().state_versions == 100
    doc = json.loads(home.config_path.read_text())
    for bad in (0, -5, "100", 2.5, True):
        home.config_path.write_text(json.dumps({**doc, "state_versions": bad}))
        with pytest.raises(ConfigError):
            home.load_config()
    with pytest.raises(ConfigError):
        NodeHome(tmp_path / "m").create(make_genesis(), NodeConfig(chain_id="c", state_versions=0))
