"""``--json`` of the read commands that other tests only check for the option: each runs on
real data (a node with a lawful-access case, a custodian's journal, a live gateway with
anchored batches) and its document is compared with what the SDK returns for the same
object, field by field."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from carchain.cli import case, common, escrow, network
from carchain.cli.main import app
from carchain.core.escrow_committee import (
    get_committee,
    get_committee_count,
    get_committee_for_epoch,
)
from carchain.custodian.journal import WAITING
from carchain.custodian.runner import open_journal
from carchain.network import localnet
from carchain.network.layout import NetworkLayout, NodeLayout
from carchain.sdk import cases
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.keystore import save_key
from carchain.sdk.oem_releases import verify_oem_releases
from tests.cli.test_cli import free_port
from tests.conftest import seeded_key
from tests.dataplane import World, make_records, world
from tests.lawful_node import NodeChain, node_chain, run_case

__all__ = ["node_chain", "world"]
PASS = "a long test passphrase"


class _InProcess(Client):
    """The SDK over the node's in-process app; closing leaves the app open."""

    def close(self) -> None:
        return None


@pytest.fixture
def chain(node_chain: NodeChain, monkeypatch: pytest.MonkeyPatch) -> NodeChain:
    """The lawful node with one case run (authorised, approved, two shares released); the
    CLI's node client is the in-process app."""

    def make(_: str) -> Client:
        c = _InProcess("http://testserver")
        c._http = node_chain.http
        return c

    for module in (common, case, escrow):
        monkeypatch.setattr(module, "client", make)
    run_case(node_chain)
    return node_chain


def run_json(*args: str, env: dict[str, str] | None = None) -> Any:
    result = CliRunner().invoke(app, [*args, "--json"], env={"COLUMNS": "250", **(env or {})})
    assert result.exit_code == 0, (args, result.output, result.exception)
    return json.loads(result.stdout)


def test_case_show_and_list_json(chain: NodeChain) -> None:
    view = ChainView(chain.sdk())
    count = cases.get_case_count(view)
    held = cases.get_case(view, count)
    doc = run_json("case", "show", "--case-id", str(count))
    assert doc["display_state"] == held.state.value
    got = doc["case"]
    assert got["case_id"] == held.case_id == count
    assert got["state"] == held.state.value
    assert got["case_ref"] == held.case_ref.hex()
    assert got["authority"] == held.authority and got["court"] == held.court
    assert [a["member_id"] for a in got["approvals"]] == [a.member_id for a in held.approvals]
    assert got["released_keys"] == held.released_keys
    assert got["scope"]["vehicles"] == list(held.scope.vehicles)  # type: ignore[union-attr]
    listed = run_json("case", "list")["cases"]
    assert [d["case"]["case_id"] for d in listed] == list(range(count, 0, -1))
    assert listed[0]["case"] == got  # the same case, the same document


def test_escrow_committee_json(chain: NodeChain) -> None:
    view = ChainView(chain.sdk())
    epoch = get_committee(view, get_committee_count(view)).from_epoch  # in force from then on
    held = get_committee_for_epoch(view, epoch + 1)
    assert held is not None
    doc = run_json("escrow", "committee", "--epoch", str(epoch + 1))
    assert doc["version"] == held.version and doc["threshold"] == held.threshold
    assert [c["member_id"] for c in doc["custodians"]] == [c.member_id for c in held.custodians]
    assert doc["categories"] == held.categories and doc["from_epoch"] == held.from_epoch
    assert run_json("escrow", "committee", "--version", str(held.version)) == doc


def test_oem_sealed_cases_json(chain: NodeChain) -> None:
    doc = run_json("oem", "sealed-cases", "--oem", "saic")
    api = chain.sdk().sealed_cases("saic")
    assert doc["oem"] == "saic" and doc["entries"] == api["entries"]
    assert {e["vehicle_id"] for e in doc["entries"]} == {"saic:1", "saic:2"}
    assert "case_ref" not in json.dumps(doc)  # never the case reference


def test_oem_verify_releases_json(chain: NodeChain) -> None:
    doc = run_json("oem", "verify-releases", "--oem", "saic")
    audit = verify_oem_releases(chain.sdk(), "saic")
    assert doc["oem"] == "saic"
    got = doc["audit"]
    assert got["oem"] == audit.oem and got["height"] == audit.height
    assert got["app_hash"] == audit.app_hash.hex()
    assert len(got["releases"]) == len(audit.releases) >= 1
    assert got["releases"] == [common.compute_json_value(r) for r in audit.releases]


def test_custodian_pending_and_status_json(tmp_path: Path) -> None:
    home = tmp_path / "custodian"
    journal = open_journal(home)
    try:
        journal.add_cases_and_advance(3)
        journal.set_task_state(2, WAITING, "2 shares wait for local approval")
        tasks = journal.get_tasks_in(WAITING)
        cursor, counts = journal.get_cursor(), journal.count_by_state()
    finally:
        journal.close()
    pending = run_json("custodian", "pending", "--home", str(home))
    assert pending == {"pending": [{"case_id": t.case_id, "detail": t.detail} for t in tasks]}
    assert pending["pending"][0]["case_id"] == 2
    status = run_json("custodian", "status", "--home", str(home))
    assert status == {"cursor": cursor, "cases": counts} and status["cursor"] == 3
    assert sum(status["cases"].values()) == 3 and status["cases"][WAITING] == 1


@pytest.fixture(scope="module")
def anchored(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two batches of the world's car anchored; a keyring holding the OEM's key."""
    rec = world.cars["saic:car-1"].recorder()
    ups = []
    for t, r in make_records(10, int(time.time() * 1000) - 600_000):  # in the epoch window
        ups += rec.add_at(r, t)
    ups += rec.flush()
    for up in ups:
        world.gclient.submit(up.body)
    world.wait_anchored()
    keys = tmp_path_factory.mktemp("json-keys")
    save_key(keys / "saic.json", seeded_key("saic"), PASS, n=2**10)
    yield keys


def test_gateway_status_and_batches_json(world: World, anchored: Path) -> None:
    env = {"CARCHAIN_KEYRING": str(anchored), "CARCHAIN_PASSPHRASE": PASS}
    status = run_json("gateway", "status", "--gateway", world.gateway.url, env=env)
    assert status == world.gclient.status() and status["unanchored"] == 0
    args = ["gateway", "batches", "--vehicle-id", "saic:car-1", "--key", "saic"]
    doc = run_json(*args, "--gateway", world.gateway.url, env=env)
    api = world.gclient.batches("saic:car-1", 0, 2**62)
    assert doc["vehicle_id"] == "saic:car-1" and doc["batches"] == api
    assert doc["batches"] and all(len(b["header_hash"]) == 64 for b in doc["batches"])
    assert all(b["anchor_height"] for b in doc["batches"])  # anchored, as the SDK says


class _CometRpc(http.server.BaseHTTPRequestHandler):
    """CometBFT's ``/status`` and ``/net_info`` as a validator answers them (height and
    peers differ per node: the port's last digit)."""

    def do_GET(self) -> None:
        n = int(self.server.socket.getsockname()[1]) % 10
        if self.path == "/status":
            info = {"latest_block_height": str(40 + n), "latest_app_hash": f"{n:02X}" * 32,
                    "catching_up": n == 1}  # fmt: skip
            result: dict[str, Any] = {"sync_info": info}
        else:
            result = {"n_peers": str(n)}
        body = json.dumps({"jsonrpc": "2.0", "id": -1, "result": result}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def test_network_status_json(tmp_path: Path) -> None:
    """Three of four validators run (their RPC answers, their pid files name a live
    process); the fourth is down: the document is each node's state and the quorum."""
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CometRpc) for _ in range(3)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    try:
        rpc_ports = [s.server_address[1] for s in servers] + [free_port()]
        nodes = [NodeLayout(f"node{i}", i, free_port(), p, free_port(), free_port())
                 for i, p in enumerate(rpc_ports)]  # fmt: skip
        layout = NetworkLayout(tmp_path, "carchain-json-net", nodes)
        layout.save()
        marker = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().split(b"\0")[0].decode()
        for node in nodes[:3]:
            for pid_path in localnet.get_pid_paths(layout, node):
                pid_path.parent.mkdir(parents=True, exist_ok=True)
                pid_path.write_text(f"{os.getpid()}\n{marker}\n")
        doc = run_json("network", "status", "--home", str(tmp_path))
        states = [localnet.get_node_state(layout, n) for n in nodes]
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
        for t in threads:
            t.join()
    assert doc["chain_id"] == "carchain-json-net"
    assert doc["nodes"] == [common.compute_json_value(s) for s in states]
    assert [d["height"] for d in doc["nodes"]] == [s.height for s in states]
    assert doc["nodes"][3]["height"] is None and doc["nodes"][0]["height"] is not None
    quorum = network.compute_quorum(states)
    assert {k: doc[k] for k in quorum} == quorum
    assert doc["quorum"] is True and doc["up"] == 3 and doc["validators"] == 4
