"""A localnet: N CometBFT validators and N application processes on loopback.

Layout of a network home::

    network.json            chain id, nodes, ports
    keys/<member>.json      the founders' keys, encrypted (passphrase: see docs/network.md)
    node<i>/comet/          CometBFT home (config, keys, data); comet.log, comet.pid
    node<i>/app/            application home: node.json, data/state.db; app.log, app.pid
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from carchain.core.genesis import Genesis, GenesisMember
from carchain.crypto.signing import SigningKey
from carchain.engine.abci.address import AbciAddress
from carchain.errors import NetworkError
from carchain.network import processes
from carchain.network.cometconfig import (
    TUNING,
    TomlValue,
    compute_comet_genesis,
    read_node_id,
    read_validator_key,
    write_node_config,
)
from carchain.network.genesis import (
    LOCALNET_PASSPHRASE,
    assign_validators,
    compute_network_genesis,
    create_member_keys,
    save_member_keys,
)
from carchain.network.layout import (
    HOST,
    LAYOUT_FILE,
    NetworkLayout,
    NodeLayout,
    allocate_ports,
    load_layout,
)
from carchain.storage.history import DEFAULT_STATE_VERSIONS
from carchain.telemetry.logs import LogFormat, validate_log_format

COMETBFT_ENV = "CARCHAIN_COMETBFT"
MAX_VALIDATORS = 8
START_TIMEOUT_S = 30.0


def find_cometbft() -> Path:
    """Return the pinned CometBFT binary: ``$CARCHAIN_COMETBFT`` or ``.tools/bin/cometbft``."""
    env = os.environ.get(COMETBFT_ENV)
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / ".tools" / "bin" / "cometbft")
    which = shutil.which("cometbft")
    if which:
        candidates.append(Path(which))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise NetworkError("CometBFT binary not found; run `make setup-network`")


@dataclass(frozen=True, slots=True)
class CreatedNetwork:
    """A freshly created network and the founders' keys (also saved in ``keys/``)."""

    layout: NetworkLayout
    genesis: Genesis
    member_keys: dict[str, SigningKey]


def create_network(
    home: Path,
    validators: int = 4,
    chain_id: str = "carchain-localnet",
    tuning: dict[str, dict[str, TomlValue]] | None = None,
    passphrase: str = LOCALNET_PASSPHRASE,
    extra_members: list[GenesisMember] | None = None,
    abci_transport: str = "unix",
    genesis: Genesis | None = None,
    member_keys: dict[str, SigningKey] | None = None,
) -> CreatedNetwork:
    """Create the homes, keys, genesis and configuration of a new localnet.

    ``abci_transport`` is ``unix`` (a 0600 socket in each app home, the default)
    or ``tcp`` (a loopback port: any local user can then reach the ABCI server).
    By default the founders get fresh keys (saved in ``keys/``) and the genesis is
    theirs; given a ``genesis`` (its chain id wins, ``extra_members`` must be empty),
    its first ``validators`` members run the nodes, and ``member_keys`` (if any) are
    the keys saved.
    """
    if genesis is not None and extra_members:
        raise NetworkError("give extra members or a genesis, not both")
    if genesis is not None and validators > len(genesis.members):
        raise NetworkError("more validators than genesis members", validators=validators)
    if abci_transport not in ("unix", "tcp"):
        raise NetworkError("abci_transport is unix or tcp", abci_transport=abci_transport)
    if not 1 <= validators <= MAX_VALIDATORS:
        raise NetworkError(f"validators must be 1..{MAX_VALIDATORS}", validators=validators)
    if (home / LAYOUT_FILE).exists():
        raise NetworkError("a network already exists here", home=str(home))
    comet = find_cometbft()
    home.mkdir(parents=True, exist_ok=True)
    layout = NetworkLayout(home, chain_id if genesis is None else genesis.chain_id, [])
    nodes = _init_comet_homes(comet, layout, validators, abci_transport)
    layout.nodes.extend(nodes)
    validator_keys = [bytes.fromhex(n.validator_key) for n in nodes]
    if genesis is None:
        keys = member_keys or create_member_keys()
        genesis = compute_network_genesis(
            chain_id, validator_keys, keys, extra_members=extra_members
        )
    else:
        keys = member_keys or {}
        genesis = assign_validators(genesis, validator_keys)
    comet_genesis = json.dumps(compute_comet_genesis(genesis), indent=2)
    for node in nodes:
        (layout.get_comet_home(node) / "config" / "genesis.json").write_text(comet_genesis)
        write_node_config(layout, node, tuning or TUNING)
        _write_app_home(layout, node)
    save_member_keys(home / "keys", keys, passphrase)
    layout.save()
    return CreatedNetwork(layout, genesis, keys)


def _init_comet_homes(
    comet: Path, layout: NetworkLayout, validators: int, abci_transport: str
) -> list[NodeLayout]:
    """Run ``cometbft init`` for each validator on fresh loopback ports; return the nodes."""
    ports = allocate_ports(4 * validators)
    nodes: list[NodeLayout] = []
    for i in range(validators):
        p2p, rpc, abci, api = ports[4 * i : 4 * i + 4]
        node = NodeLayout(f"node{i}", i, p2p, rpc, abci, api, abci_transport=abci_transport)
        chome = layout.get_comet_home(node)
        subprocess.run([str(comet), "init", "--home", str(chome)], check=True, capture_output=True)
        node_id, validator_key = read_node_id(chome), read_validator_key(chome).hex()
        nodes.append(replace(node, node_id=node_id, validator_key=validator_key))
    return nodes


def _write_app_home(layout: NetworkLayout, node: NodeLayout) -> None:
    """Create the node's application home with the ``node.json`` its app process reads."""
    app_home = layout.get_app_home(node)
    (app_home / "data").mkdir(parents=True, exist_ok=True)
    doc = {
        "chain_id": layout.chain_id,
        "abci_port": node.abci_port,
        "abci_address": layout.get_abci_address(node).format(),
        "api_port": node.api_port,
        "rpc_port": node.rpc_port,
        "state_versions": DEFAULT_STATE_VERSIONS,
    }
    (app_home / "node.json").write_text(json.dumps(doc, indent=2))


# --- processes ------------------------------------------------------------------------


def get_pid_paths(layout: NetworkLayout, node: NodeLayout) -> tuple[Path, Path]:
    """Return the app and CometBFT pid files of a node."""
    d = layout.get_node_dir(node)
    return d / "app.pid", d / "comet.pid"


def wait_port(port: int | AbciAddress, timeout_s: float, alive: Path | None = None) -> None:
    """Wait until something accepts connections on loopback ``port`` (or an ABCI address).

    If ``alive`` (a pid file) names a process that died meanwhile, fail at once.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with connect(port):
                return
        except OSError:
            pass
        if alive is not None and processes.read_pid(alive) is None:
            raise NetworkError("process exited during start-up; see its log", pid_file=str(alive))
        time.sleep(0.05)
    raise NetworkError("timed out waiting for a port", port=port)


def connect(address: int | AbciAddress) -> socket.socket:
    """Return a socket connected to a loopback port or an ABCI address."""
    if isinstance(address, int):
        return socket.create_connection((HOST, address), timeout=0.5)
    if address.path is None:
        return socket.create_connection((address.host, address.port), timeout=0.5)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(0.5)
        sock.connect(str(address.path))
    except OSError:
        sock.close()
        raise
    return sock


def set_log_format(layout: NetworkLayout, node: NodeLayout, log_format: LogFormat) -> None:
    """Record the log format of the node's application in its ``node.json``."""
    path = layout.get_app_home(node) / "node.json"
    doc = json.loads(path.read_text())
    doc["log_format"] = validate_log_format(log_format)
    path.write_text(json.dumps(doc, indent=2))


def get_log_format(layout: NetworkLayout, node: NodeLayout) -> LogFormat:
    """Return the log format ``node.json`` records (text if none)."""
    try:
        doc = json.loads((layout.get_app_home(node) / "node.json").read_text())
        return validate_log_format(str(doc.get("log_format", "text")))
    except (OSError, ValueError, AttributeError):
        return "text"


def start_app(layout: NetworkLayout, node: NodeLayout, env: dict[str, str] | None = None) -> int:
    """Start the node's application process (ABCI server and node API), its logs in
    the format its ``node.json`` records."""
    app_pid, _ = get_pid_paths(layout, node)
    if processes.read_pid(app_pid) is not None:
        raise NetworkError("application already running", node=node.name)
    app_home = layout.get_app_home(node)
    # The home comes last: the pid file records it to recognise the process later.
    log_format = ["--log-format", get_log_format(layout, node)]
    argv = [sys.executable, "-m", "carchain.cli.appnode", *log_format, "--home", str(app_home)]
    pid = processes.spawn(argv, layout.get_node_dir(node) / "app.log", app_pid, env)
    wait_port(layout.get_abci_address(node), START_TIMEOUT_S, app_pid)
    return pid


def start_comet(layout: NetworkLayout, node: NodeLayout) -> int:
    """Start the node's CometBFT (its application must be listening)."""
    _, comet_pid = get_pid_paths(layout, node)
    if processes.read_pid(comet_pid) is not None:
        raise NetworkError("CometBFT already running", node=node.name)
    argv = [str(find_cometbft()), "start", "--home", str(layout.get_comet_home(node))]
    return processes.spawn(argv, layout.get_node_dir(node) / "comet.log", comet_pid)


def start_node(layout: NetworkLayout, node: NodeLayout, env: dict[str, str] | None = None) -> None:
    """Start a node: application first, then CometBFT."""
    app_pid, comet_pid = get_pid_paths(layout, node)
    if processes.read_pid(app_pid) is None:
        start_app(layout, node, env)
    if processes.read_pid(comet_pid) is None:
        start_comet(layout, node)


def stop_node(
    layout: NetworkLayout, node: NodeLayout, sig: signal.Signals = signal.SIGTERM
) -> None:
    """Stop a node: CometBFT first (it stops calling the app), then the application."""
    app_pid, comet_pid = get_pid_paths(layout, node)
    processes.stop(comet_pid, sig)
    processes.stop(app_pid, sig)


def kill_node(layout: NetworkLayout, node: NodeLayout) -> None:
    """SIGKILL both processes of a node (a crash, not a shutdown)."""
    stop_node(layout, node, signal.SIGKILL)


def up(
    home: Path,
    validators: int = 4,
    chain_id: str = "carchain-localnet",
    abci_transport: str = "unix",
    log_format: LogFormat | None = None,
) -> NetworkLayout:
    """Create the network if needed and start every node; return its layout.

    ``log_format`` (if given) is recorded for every node: restarts keep it.
    """
    if (home / LAYOUT_FILE).exists():
        layout = load_layout(home)
    else:
        layout = create_network(home, validators, chain_id, abci_transport=abci_transport).layout
    if log_format is not None:
        for node in layout.nodes:
            set_log_format(layout, node, log_format)
    for node in layout.nodes:
        if processes.read_pid(get_pid_paths(layout, node)[0]) is None:
            start_app(layout, node)
    for node in layout.nodes:
        if processes.read_pid(get_pid_paths(layout, node)[1]) is None:
            start_comet(layout, node)
    for node in layout.nodes:
        wait_port(node.rpc_port, START_TIMEOUT_S, get_pid_paths(layout, node)[1])
    return layout


def down(home: Path) -> NetworkLayout:
    """Stop every node of the network (SIGTERM, then SIGKILL if needed)."""
    layout = load_layout(home)
    for node in layout.nodes:
        stop_node(layout, node)
    return layout


@dataclass(frozen=True, slots=True)
class NodeState:
    """What ``network status`` shows for one node."""

    name: str
    app_pid: int | None
    comet_pid: int | None
    height: int | None
    app_hash: str
    catching_up: bool | None
    peers: int | None


def get_node_state(layout: NetworkLayout, node: NodeLayout, timeout_s: float = 2.0) -> NodeState:
    """Return a node's processes and, if its RPC answers, height, app hash and peers."""
    import httpx

    app_pid, comet_pid = (processes.read_pid(p) for p in get_pid_paths(layout, node))
    height: int | None = None
    app_hash = ""
    catching_up: bool | None = None
    peers: int | None = None
    if comet_pid is not None:
        try:
            st = httpx.get(f"{node.rpc_url}/status", timeout=timeout_s).json()["result"]
            height = int(st["sync_info"]["latest_block_height"])
            app_hash = str(st["sync_info"]["latest_app_hash"]).lower()
            catching_up = bool(st["sync_info"]["catching_up"])
            net = httpx.get(f"{node.rpc_url}/net_info", timeout=timeout_s).json()["result"]
            peers = int(net["n_peers"])
        except (httpx.HTTPError, ValueError, KeyError):
            pass
    return NodeState(node.name, app_pid, comet_pid, height, app_hash, catching_up, peers)
