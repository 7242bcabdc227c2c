"""Where a localnet's nodes live and which loopback ports they use (``network.json``)."""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

from carchain.engine.abci.address import AbciAddress, compute_unix_address
from carchain.errors import NetworkError, NotFound
from carchain.netaddr import validate_loopback

HOST = "127.0.0.1"
LAYOUT_FILE = "network.json"


@dataclass(frozen=True, slots=True)
class NodeLayout:
    """One node: a CometBFT home and an application home, and their ports."""

    name: str
    index: int
    p2p_port: int
    rpc_port: int
    abci_port: int
    api_port: int
    node_id: str = ""
    validator_key: str = ""
    # "unix": ABCI over a 0600 Unix socket in the app home; "tcp": over abci_port.
    abci_transport: str = "unix"

    @property
    def rpc_url(self) -> str:
        """Return the CometBFT RPC URL."""
        return f"http://{HOST}:{self.rpc_port}"

    @property
    def api_url(self) -> str:
        """Return the carchain node API URL."""
        return f"http://{HOST}:{self.api_port}"


@dataclass(frozen=True, slots=True)
class NetworkLayout:
    """A localnet: chain id and nodes, under one home folder."""

    home: Path
    chain_id: str
    nodes: list[NodeLayout] = field(default_factory=list)

    def get_node(self, name: str) -> NodeLayout:
        """Return the node called ``name`` (``node0``) or numbered ``name`` (``0``)."""
        for n in self.nodes:
            if name in (n.name, str(n.index)):
                return n
        raise NotFound("no such node in this network", node=name)

    def get_node_dir(self, node: NodeLayout) -> Path:
        """Return the node's folder."""
        return self.home / node.name

    def get_comet_home(self, node: NodeLayout) -> Path:
        """Return the node's CometBFT home."""
        return self.home / node.name / "comet"

    def get_app_home(self, node: NodeLayout) -> Path:
        """Return the node's application home (state database, config)."""
        return self.home / node.name / "app"

    def get_abci_address(self, node: NodeLayout) -> AbciAddress:
        """Return where the node's application serves ABCI to its CometBFT."""
        if node.abci_transport == "tcp":
            return AbciAddress(host=HOST, port=node.abci_port)
        if node.abci_transport != "unix":
            raise NetworkError("abci_transport is unix or tcp", node=node.name)
        return compute_unix_address(self.get_app_home(node))

    def save(self) -> None:
        """Write ``network.json``."""
        doc = {"chain_id": self.chain_id, "nodes": [asdict(n) for n in self.nodes]}
        (self.home / LAYOUT_FILE).write_text(json.dumps(doc, indent=2))


def load_layout(home: Path) -> NetworkLayout:
    """Read ``network.json`` from a network home."""
    path = home / LAYOUT_FILE
    try:
        doc = json.loads(path.read_text())
        nodes = [NodeLayout(**n) for n in doc["nodes"]]
    except FileNotFoundError:
        raise NetworkError("no network here; run `carchain network up`", home=str(home)) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NetworkError(f"cannot read {path}: {exc}") from exc
    return NetworkLayout(home, str(doc["chain_id"]), nodes)


def allocate_ports(count: int, host: str = HOST) -> list[int]:
    """Return ``count`` distinct ports that are free on loopback right now."""
    validate_loopback(host)
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()
