"""CometBFT's ``config.toml`` tuned for a fast loopback localnet, and its genesis."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from carchain.core.genesis import Genesis, encode_genesis
from carchain.errors import CarchainError, ConfigError
from carchain.network.layout import HOST, NetworkLayout, NodeLayout

TomlValue = str | int | bool

# Fast blocks on loopback: short timeouts, no wait once all precommits are in,
# quick gossip; large mempool; no CometBFT tx indexer (the application keeps its
# own index, written atomically with its state).
TUNING: dict[str, dict[str, TomlValue]] = {
    "": {"log_level": "state:info,*:error", "abci": "socket", "filter_peers": False},
    "rpc": {
        "max_open_connections": 900,
        "max_request_batch_size": 2000,
        "max_body_bytes": 64 * 1024 * 1024,
        "timeout_broadcast_tx_commit": "10s",
        "experimental_close_on_slow_client": True,
    },
    "p2p": {
        "addr_book_strict": False,
        "allow_duplicate_ip": True,
        "pex": False,
        "flush_throttle_timeout": "10ms",
        "send_rate": 52428800,
        "recv_rate": 52428800,
        "max_packet_msg_payload_size": 10240,
        "dial_timeout": "1s",
        "persistent_peers_max_dial_period": "1s",
        "handshake_timeout": "5s",
    },
    "mempool": {
        "size": 100000,
        "cache_size": 200000,
        "recheck": True,
        "broadcast": True,
        "max_batch_bytes": 0,
    },
    "consensus": {
        "timeout_propose": "1s",
        "timeout_propose_delta": "200ms",
        "timeout_prevote": "300ms",
        "timeout_prevote_delta": "100ms",
        "timeout_precommit": "300ms",
        "timeout_precommit_delta": "100ms",
        "timeout_commit": "200ms",
        "skip_timeout_commit": False,
        "create_empty_blocks": True,
        "create_empty_blocks_interval": "1s",
        "peer_gossip_sleep_duration": "25ms",
        "peer_query_maj23_sleep_duration": "500ms",
    },
    "tx_index": {"indexer": "null"},
    "instrumentation": {"prometheus": False},
}


def format_toml_value(value: TomlValue) -> str:
    """Return ``value`` as a TOML literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def apply_settings(text: str, settings: Mapping[str, Mapping[str, TomlValue]]) -> str:
    """Return ``config.toml`` text with ``settings`` (section -> key -> value) applied.

    Every key must already exist in its section (CometBFT writes them all at
    ``init``): a misspelt key fails loudly instead of being ignored.
    """
    out: list[str] = []
    section = ""
    seen: set[tuple[str, str]] = set()
    for line in text.splitlines():
        m = re.match(r"^\[([A-Za-z0-9_.-]+)\]\s*$", line)
        if m:
            section = m.group(1)
        else:
            km = re.match(r"^([A-Za-z0-9_-]+)\s*=", line)
            if km and km.group(1) in settings.get(section, {}):
                key = km.group(1)
                line = f"{key} = {format_toml_value(settings[section][key])}"
                seen.add((section, key))
        out.append(line)
    missing = [(s, k) for s, kv in settings.items() for k in kv if (s, k) not in seen]
    if missing:
        raise ConfigError("config.toml lacks expected keys", missing=str(missing))
    return "\n".join(out) + "\n"


def compute_node_settings(
    layout: NetworkLayout, node: NodeLayout, tuning: Mapping[str, Mapping[str, TomlValue]]
) -> dict[str, dict[str, TomlValue]]:
    """Return every setting of one node: tuning plus its loopback addresses and peers.

    CometBFT reaches its application at ``proxy_app``: by default the Unix
    socket in the node's app home (mode 0600: only this user can connect),
    ``tcp://127.0.0.1:PORT`` only if the node was created with TCP transport.
    """
    settings = {s: dict(kv) for s, kv in tuning.items()}
    peers = ",".join(
        f"{p.node_id}@{HOST}:{p.p2p_port}" for p in layout.nodes if p.name != node.name
    )
    proxy_app = layout.get_abci_address(node).format()
    settings[""].update(moniker=node.name, proxy_app=proxy_app)
    settings.setdefault("rpc", {})["laddr"] = f"tcp://{HOST}:{node.rpc_port}"
    settings.setdefault("p2p", {}).update(
        laddr=f"tcp://{HOST}:{node.p2p_port}",
        external_address=f"{HOST}:{node.p2p_port}",
        persistent_peers=peers,
    )
    return settings


def write_node_config(
    layout: NetworkLayout, node: NodeLayout, tuning: Mapping[str, Mapping[str, TomlValue]] = TUNING
) -> None:
    """Rewrite the node's ``config.toml`` for the localnet."""
    path = layout.get_comet_home(node) / "config" / "config.toml"
    path.write_text(apply_settings(path.read_text(), compute_node_settings(layout, node, tuning)))


def read_validator_key(comet_home: Path) -> bytes:
    """Return the Ed25519 public key in ``priv_validator_key.json``."""
    doc = json.loads((comet_home / "config" / "priv_validator_key.json").read_text())
    if doc["pub_key"]["type"] != "tendermint/PubKeyEd25519":
        raise CarchainError("validator key is not Ed25519")
    return base64.b64decode(doc["pub_key"]["value"])


def read_node_id(comet_home: Path) -> str:
    """Return the P2P node id: hex of the first 20 bytes of SHA-256 of the node key."""
    doc = json.loads((comet_home / "config" / "node_key.json").read_text())
    priv = base64.b64decode(doc["priv_key"]["value"])
    return hashlib.sha256(priv[32:]).digest()[:20].hex()


def format_rfc3339(time_ms: int) -> str:
    """Return Unix milliseconds as the RFC 3339 time CometBFT's genesis uses."""
    dt = datetime.fromtimestamp(time_ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time_ms % 1000:03d}000000Z"


def compute_comet_genesis(genesis: Genesis) -> dict[str, object]:
    """Return CometBFT's ``genesis.json``: no validators (InitChain sets them from
    the members with power), the carchain genesis as ``app_state``.
    """
    return {
        "genesis_time": format_rfc3339(genesis.genesis_time_ms),
        "chain_id": genesis.chain_id,
        "initial_height": "1",
        "consensus_params": {
            "block": {"max_bytes": "22020096", "max_gas": "-1"},
            "evidence": {
                "max_age_num_blocks": "100000",
                "max_age_duration": "172800000000000",
                "max_bytes": "1048576",
            },
            "validator": {"pub_key_types": ["ed25519"]},
            "version": {"app": "1"},
            "abci": {"vote_extensions_enable_height": "0"},
        },
        "validators": [],
        "app_hash": "",
        "app_state": json.loads(encode_genesis(genesis)),
    }
