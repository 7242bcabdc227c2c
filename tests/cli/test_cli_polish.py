"""The CLI's rough edges from the new-user walkthrough (issue 12, point 7): ``--json`` on
every read command, proposals, ``tx status``, errors as one line naming the thing, typed
local errors (keyring, key, passphrase, port, roles), ``--version``, ``--owner`` by key name,
full hashes, commit timeouts and lost quorum."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import click
import pytest
import typer.main

from carchain.cli import common, gateway, network
from carchain.cli.main import app
from carchain.core.transactions import compute_tx_hash
from carchain.errors import CommitTimeout
from carchain.network.localnet import NodeState
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sdk.keystore import load_key
from tests.cli.test_cli import PASS, VIN, Cli, cli

__all__ = ["cli"]  # the module-scoped node fixture

# Every command that only reads (the node, a gateway, a journal, the keyring or a network).
READ_COMMANDS = (
    "keys show", "keys list", "query", "member list", "member access-log", "proposal list",
    "proposal show", "tx status", "vehicle show", "vehicle keys", "vehicle check-vin",
    "vehicle access-log", "gateway status", "gateway batches", "erasure status",
    "erasure overdue", "consent list", "access log", "access oem-log", "case show",
    "case list", "escrow committee", "custodian pending", "custodian status",
    "network status", "transparency report", "transparency annual", "oem sealed-cases",
    "oem verify-releases", "v2x revocations",
)  # fmt: skip


def get_click_command(path: str) -> click.Command:
    cmd: Any = typer.main.get_command(app)
    for part in path.split():
        cmd = cmd.commands[part]
    return cmd  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def chain(cli: Cli) -> dict[str, str]:
    """A vehicle registered with ``--owner`` as a key name, and one proposal."""
    salt_file = cli.keyring.parent / "p1.salt"
    salt_file.write_text("old")
    salt_file.chmod(0o644)  # a file already there: --salt-out must not keep its mode
    out = cli.run(
        "vehicle", "register", "--key", "saic", "--vehicle-id", "saic:p1", "--vin", VIN,
        "--public-key", cli.pk("newcomer"), "--owner", "owner1", "--model", "M", "--year", "2024",
        "--salt-out", str(cli.keyring.parent / "p1.salt"),
    ).stdout  # fmt: skip
    assert "registered saic:p1" in out
    cli.run(
        "member", "propose", "add", "--key", "saic", "--member-id", "ping-an",
        "--roles", "insurer", "--public-key", cli.pk("owner2"),
    )  # fmt: skip
    assert salt_file.stat().st_mode & 0o777 == 0o600
    salt = salt_file.read_text().strip()
    return {"salt": salt}


def test_every_read_command_takes_json() -> None:
    for path in READ_COMMANDS:
        names = {o for p in get_click_command(path).params for o in p.opts}
        assert "--json" in names, path


def test_read_commands_print_json(cli: Cli, chain: dict[str, str]) -> None:
    runs = [
        ["keys", "show", "saic"], ["keys", "list"], ["query", "vehicles/v/saic:p1"],
        ["query", "vehicles/v/saic:p1", "--prove"], ["member", "list"],
        ["member", "access-log", "saic"], ["proposal", "list"], ["proposal", "show", "1"],
        ["vehicle", "show", "saic:p1"], ["vehicle", "keys", "saic:p1"],
        ["vehicle", "check-vin", "--vehicle-id", "saic:p1", "--vin", VIN, "--salt", chain["salt"]],
        ["vehicle", "access-log", "saic:p1"], ["erasure", "status", "saic:p1"],
        ["erasure", "overdue", "--oem", "saic"], ["consent", "list", "saic:p1"],
        ["access", "log", "saic:p1"], ["access", "oem-log", "saic"], ["case", "list"],
        ["v2x", "revocations"],
    ]  # fmt: skip
    for args in runs:
        doc = json.loads(cli.run(*args, "--json").stdout)
        assert isinstance(doc, dict) and doc, args
    owner = json.loads(cli.run("vehicle", "show", "saic:p1", "--json").stdout)["owner"]
    assert owner == cli.pk("owner1")  # --owner took the key name
    assert json.loads(cli.run("proposal", "list", "--json").stdout)["proposals"][0]["status"]


def test_read_commands_json_is_what_the_sdk_returns(cli: Cli, chain: dict[str, str]) -> None:
    """Each document holds the same object the SDK reads from the node (not only a dict)."""
    from carchain.core import consents
    from carchain.core import erasure as er
    from carchain.core import vehicles as veh
    from carchain.sdk.chainview import ChainView

    def doc(*args: str) -> Any:
        return json.loads(cli.run(*args, "--json").stdout)

    assert doc("keys", "show", "saic") == {"name": "saic", "public_key": cli.pk("saic")}
    listed = {k["name"]: k["public_key"] for k in doc("keys", "list")["keys"]}
    assert listed["owner1"] == cli.pk("owner1") and listed["geely"] == cli.pk("geely")
    with Client(cli.url) as c:
        view = ChainView(c)
        assert doc("member", "list")["members"] == c.members(limit=1000)
        assert doc("proposal", "show", "1") == c.proposal(1)
        assert doc("vehicle", "show", "saic:p1") == c.vehicle("saic:p1")
        history = veh.get_key_history(view, "saic:p1")
        keys = doc("vehicle", "keys", "saic:p1")
        assert keys == {"vehicle_id": "saic:p1", "keys": common.compute_json_value(history)}
        grants = doc("consent", "list", "saic:p1")
        assert grants["count"] == consents.get_grant_count(view, "saic:p1")
        erasures = doc("erasure", "status", "saic:p1")["erasures"]
        assert erasures == common.compute_json_value(er.get_erasures(view, "saic:p1"))
        overdue = doc("erasure", "overdue", "--oem", "saic")
        assert overdue["oem"] == "saic" and overdue["overdue_now"] == er.get_overdue_count(
            view, "saic"
        )
        listed_overdue = er.get_overdue_erasures(view, "saic", limit=20)  # the default
        assert overdue["erasures"] == common.compute_json_value([e for _, e in listed_overdue])
        assert doc("member", "access-log", "saic") == doc("access", "oem-log", "saic")
        raw = c.query("vehicles", b"v/saic:p1")
        got = doc("query", "vehicles/v/saic:p1")
        assert (got["value"], got["height"]) == (raw["value"], raw["height"])
        proven = doc("query", "vehicles/v/saic:p1", "--prove")
        verified = c.query_verified("vehicles", b"v/saic:p1", proven["height"])
        assert proven["value"] == verified.value.hex() == got["value"]
        assert proven["app_hash"] == verified.app_hash.hex() and proven["verified"] is True
    salt = chain["salt"]
    vin = doc("vehicle", "check-vin", "--vehicle-id", "saic:p1", "--vin", VIN, "--salt", salt)
    assert vin == {"vehicle_id": "saic:p1", "vin_matches": True}


def test_proposal_list_and_show(cli: Cli, chain: dict[str, str]) -> None:
    listing = cli.run("proposal", "list").stdout
    assert "add_member" in listing and "open" in listing
    assert "ping-an" in cli.run("proposal", "show", "1").stdout
    assert json.loads(cli.run("proposal", "list", "--status", "passed", "--json").stdout) == {
        "next_before": None,
        "proposals": [],
    }
    res = cli.run("proposal", "show", "99", ok=False)
    assert res.exit_code == 1 and res.stderr.strip() == "error not_found: proposal 99 not found"
    assert cli.run("proposal", "list", "--status", "bogus", ok=False).exit_code == 2


def test_tx_status(cli: Cli, chain: dict[str, str]) -> None:
    from carchain.core import governance as gov

    with Client(cli.url) as c:
        res = Account(c, load_key(cli.keyring / "geely.json", PASS)).send(gov.Vote(1, True))
    doc = json.loads(cli.run("tx", "status", res["hash"], "--json").stdout)
    assert doc["state"] == "committed" and doc["height"] == res["height"]
    assert f"committed in block {res['height']}" in cli.run("tx", "status", res["hash"]).stdout
    unknown = "ab" * 32
    bad = cli.run("tx", "status", unknown, ok=False)
    assert bad.exit_code == 1 and unknown in bad.stderr and "internal" not in bad.stderr
    assert cli.run("tx", "status", "xyz", ok=False).exit_code == 2


def test_errors_name_the_thing(cli: Cli) -> None:
    res = cli.run("vehicle", "show", "saic-l", ok=False)
    assert res.stderr.strip() == "error not_found: vehicle 'saic-l' not found"
    res = cli.run("query", "vehicles/v/saic-l", ok=False)
    assert "vehicles/v/saic-l" in res.stderr and b"v/saic-l".hex() not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_user_errors_are_never_internal(cli: Cli, tmp_path: Path) -> None:
    cases = [
        (["keys", "show", "nobody"], "key_missing"),
        (["member", "vote", "1", "--key", "nobody"], "key_missing"),
        (["member", "vote", "1", "--key", "saic", "--keyring", str(tmp_path / "no")],
         "keyring_missing"),
        (["vehicle", "register", "--key", "saic", "--vehicle-id", "saic:p2", "--vin", VIN,
          "--public-key", "00" * 32, "--owner", "nobody", "--model", "M", "--year", "1"],
         "key_missing"),
        (["vehicle", "register", "--key", "saic", "--vehicle-id", "saic:p2", "--vin", VIN,
          "--public-key", "00" * 32, "--owner", "zz" * 32, "--model", "M", "--year", "1"],
         "invalid_public_key"),
        (["init", "--home", str(tmp_path / "h"), "--member", "a:A:pirate:saic"], "unknown_role"),
        (["member", "propose", "add", "--key", "saic", "--member-id", "x", "--roles", "pirate",
          "--public-key", "00" * 32], "unknown_role"),
    ]  # fmt: skip
    for args, code in cases:
        res = cli.run(*args, ok=False)
        line = res.stderr.strip()
        assert res.exit_code == 1 and line.startswith(f"error {code}: "), (args, res.output)
        assert len(line.splitlines()) == 1 and "internal" not in line


def test_unknown_role_lists_the_valid_ones(cli: Cli, tmp_path: Path) -> None:
    res = cli.run("init", "--home", str(tmp_path / "h"), "--member", "a:A:pirate:saic", ok=False)
    for role in ("oem", "court", "law_enforcement", "insurer"):
        assert role in res.stderr
    helps = cli.run("member", "propose", "--help").stdout + cli.run("init", "--help").stdout
    assert "law_enforcement" in helps and "misbehaviour_authority" in helps


def test_passphrase_errors_are_one_line(tmp_path: Path) -> None:
    c = Cli(tmp_path / "ring")
    res = c.run("keys", "new", "k", passphrase="", stdin="", ok=False)
    assert res.exit_code == 1
    assert res.stderr.strip().startswith("error passphrase_required: ")
    assert len(res.stderr.strip().splitlines()) == 1
    res = c.run("keys", "new", "k", passphrase="short", ok=False)
    assert res.stderr.strip().startswith("error passphrase_too_short: ")
    assert "12" in res.stderr and not (tmp_path / "ring" / "k.json").exists()
    assert "created" in c.run("keys", "new", "k", passphrase="twelve chars").stdout


def test_busy_port_is_one_line(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "h2"
    cli.run("init", "--home", str(home), "--member", "saic:S:oem:saic")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = cli.run("node", "start", "--home", str(home), "--port", str(port), ok=False)
    assert res.exit_code == 1
    assert res.stderr.strip().startswith(f"error port_in_use: port {port}")


def test_version(cli: Cli) -> None:
    from importlib.metadata import version

    assert cli.run("--version").stdout.strip() == f"carchain {version('carchain')}"


def test_commit_timeout_names_the_hash_and_how_to_follow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "get_chain_stall_s", lambda node: None)
    line = common.compute_error_line(
        common.explain_commit_timeout(CommitTimeout("late", tx_hash="cd" * 32), "http://x")
    )
    assert line.startswith("error tx_pending: ") and "internal" not in line
    assert f"carchain tx status {'cd' * 32}" in line
    monkeypatch.setattr(common, "get_chain_stall_s", lambda node: 12.0)
    line = common.compute_error_line(
        common.explain_commit_timeout(CommitTimeout("late", tx_hash="cd" * 32), "http://x")
    )
    assert line.startswith("error quorum_lost: ") and "12 s" in line


def test_account_names_the_hash_of_a_tx_not_committed_in_time() -> None:
    from carchain.core import governance as gov
    from tests.conftest import seeded_key

    sent: list[bytes] = []

    class Slow(Client):
        def submit(self, tx: bytes, mode: Any = "sync", timeout_s: float = 10.0) -> Any:
            sent.append(tx)
            raise CommitTimeout("not committed within the timeout")

    with Slow("http://127.0.0.1:9") as c:
        acct = Account(c, seeded_key("x"), chain_id="c")
        acct._nonce = 0
        with pytest.raises(CommitTimeout) as info:
            acct.send(gov.Vote(1, True))
    assert info.value.tx_hash == compute_tx_hash(sent[0]).hex()


def test_gateway_batches_prints_the_full_header_hash(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = "ef" * 32
    doc = {"header_hash": full, "epoch": 1, "seq": 0, "start_ms": 0, "end_ms": 1,
           "record_count": 3, "anchor_seq": 1, "anchor_height": 5}  # fmt: skip

    class FakeGateway:
        def __init__(self, *a: object, **k: object) -> None: ...
        def __enter__(self) -> FakeGateway:
            return self

        def __exit__(self, *exc: object) -> None: ...
        def batches(self, *a: object) -> list[dict[str, Any]]:
            return [doc]

    monkeypatch.setattr(gateway, "GatewayClient", FakeGateway)
    args = ("gateway", "batches", "--vehicle-id", "saic:p1", "--key", "saic")
    assert full in cli.run(*args).stdout.split()
    assert json.loads(cli.run(*args, "--json").stdout)["batches"][0]["header_hash"] == full


def test_network_quorum_and_keyring_hint(tmp_path: Path) -> None:
    def node(name: str, up: bool) -> NodeState:
        return NodeState(
            name, 1 if up else None, 2 if up else None, 5 if up else None, "", False, 1
        )

    assert network.compute_quorum([node("a", True)] * 3 + [node("d", False)])["quorum"]
    lost = network.compute_quorum([node("a", True)] * 2 + [node("c", False)] * 2)
    assert lost == {"validators": 4, "up": 2, "needed": 3, "quorum": False}
    with network.console.capture() as cap:
        network.print_keyring_hint(tmp_path)
    text = cap.get()
    assert str((tmp_path / "keys").resolve()) in text
    assert "CARCHAIN_PASSPHRASE=carchain-localnet" in text and "network env" in text


def test_a_wrong_url_or_unwritable_file_is_not_internal(cli: Cli, tmp_path: Path) -> None:
    # An HTTP server that is no carchain node: its 404 has no error document.
    import http.server
    import threading

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        res = cli.run("vehicle", "show", "saic:p1", "--node", url, ok=False)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    # (the server's own request log shares this process's stderr: the CLI's line is last)
    assert res.stderr.strip().splitlines()[-1].startswith("error node_unavailable: "), res.output
    out = tmp_path / "missing-dir" / "log.json"
    res = cli.run("vehicle", "access-log", "saic:p1", "--export", str(out), "--key", "owner1",
                  ok=False)  # fmt: skip
    line = res.stderr.strip()
    assert res.exit_code == 1 and line.startswith("error ") and "internal" not in line, res.output
