"""``carchain consent`` and ``carchain access`` end to end against a real node process:
an owner grants, a supplier asks (approved / refused), the OEM releases, the supplier
receipts, everyone reads the proven access log; misuse exits with the typed error."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator

import pytest
import typer

from carchain.cli.access import parse_batch, parse_item
from carchain.cli.consent import get_event_seq
from carchain.errors import NodeUnavailable
from tests.cli.test_cli import CARCHAIN, Cli, free_port, wait_for_node
from tests.conftest import Processes

FAR = str(2**62)
HEADER = hashlib.sha256(b"batch-0").hexdigest()
DIGEST = hashlib.sha256(b"records").hexdigest()


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """A keyring, a home with an OEM and a supplier, a running node (killed at the end)."""
    root = tmp_path_factory.mktemp("cli-sharing")
    c = Cli(root / "keys")
    for name in ("saic", "bosch", "owner1", "stranger"):
        c.run("keys", "new", name)
    home, port = root / "node1", free_port()
    c.run(
        "init", "--home", str(home), "--chain-id", "carchain-cli",
        "--member", "saic:SAIC Motor:oem:saic", "--member", "bosch:Bosch:supplier:bosch",
        "--threshold", "2/3", "--port", str(port),
    )  # fmt: skip
    procs = Processes()
    try:
        proc = procs.start(
            [CARCHAIN, "node", "start", "--home", str(home), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        c.url = f"http://127.0.0.1:{port}"
        wait_for_node(proc, c.url)
        c.run(
            "vehicle", "register", "--vehicle-id", "saic:1", "--vin", "LSVAX4181E2100001",
            "--public-key", "11" * 32, "--owner", c.pk("owner1"), "--model", "RX5",
            "--year", "2024", "--key", "saic",
        )  # fmt: skip
        yield c
    finally:
        procs.kill_all()


def grant(cli: Cli, category: str, key: str = "owner1", ok: bool = True):  # type: ignore[no-untyped-def]
    return cli.run(
        "consent", "grant", "--vehicle-id", "saic:1", "--category", category,
        "--purpose", "maintenance_diagnostics", "--recipient-id", "bosch",
        "--data-from-ms", "0", "--data-until-ms", FAR, "--expires-ms", FAR, "--key", key, ok=ok,
    )  # fmt: skip


def request(cli: Cli, category: str, key: str = "bosch", ok: bool = True):  # type: ignore[no-untyped-def]
    return cli.run(
        "access", "request", "--vehicle-id", "saic:1", "--category", category,
        "--purpose", "maintenance_diagnostics", "--data-from-ms", "1000",
        "--data-until-ms", "100000", "--key", key, ok=ok,
    )  # fmt: skip


def release(cli: Cli, seq: str, key: str = "saic", ok: bool = True):  # type: ignore[no-untyped-def]
    return cli.run(
        "access", "release", "--vehicle-id", "saic:1", "--request-seq", seq,
        "--category", "diagnostics", "--batch", f"{HEADER}:2000:3000",
        "--package-hash", "ab" * 32, "--key", key, ok=ok,
    )  # fmt: skip


def receipt(cli: Cli, seq: str, key: str = "bosch", ok: bool = True):  # type: ignore[no-untyped-def]
    return cli.run(
        "access", "receipt", "--vehicle-id", "saic:1", "--request-seq", seq,
        "--item", f"{HEADER}:5:{DIGEST}", "--key", key, ok=ok,
    )  # fmt: skip


def test_consent_and_access_flow(cli: Cli) -> None:
    assert "granted saic:1 grant 0" in grant(cli, "diagnostics").stdout
    listing = cli.run("consent", "list", "saic:1").stdout
    assert "diagnostics" in listing and "bosch" in listing
    assert (
        "approved request 0 of saic:1 (diagnostics: grant 0)" in request(cli, "diagnostics").stdout
    )
    refused = request(cli, "location").stdout
    assert "refused request 1 of saic:1: sensitive_needs_named_grant" in refused
    assert "released request 0 of saic:1 (1 batches)" in release(cli, "0").stdout
    assert "receipted 1 batches of request 0" in receipt(cli, "0").stdout
    log = cli.run("access", "log", "saic:1").stdout
    for kind in ("receipt", "release", "refused", "approved", "request", "grant"):
        assert kind in log
    assert "access log of saic:1: 7 of 7 entries" in log and "proven against app hash" in log
    page = cli.run("vehicle", "access-log", "saic:1", "--limit", "2").stdout
    assert "2 of 7 entries" in page and "--before 5" in page
    oem = cli.run("access", "oem-log", "saic").stdout
    assert "saic:1" in oem and "7 of 7 entries" in oem
    # Misuse: typed errors, exit 1.
    res = receipt(cli, "0", ok=False)
    assert res.exit_code == 1 and "already_receipted" in res.stderr
    res = release(cli, "1", ok=False)  # the OEM, for a location request
    assert res.exit_code == 1 and "sensitive_release_needs_owner" in res.stderr
    res = release(cli, "1", key="owner1", ok=False)
    assert res.exit_code == 1 and "request_not_approved" in res.stderr
    res = release(cli, "0", key="bosch", ok=False)
    assert res.exit_code == 1 and "unauthorized" in res.stderr
    res = grant(cli, "diagnostics", key="stranger", ok=False)
    assert res.exit_code == 1 and "unauthorized" in res.stderr
    assert (
        "withdrawn saic:1 grant 0"
        in cli.run(
            "consent", "withdraw", "--vehicle-id", "saic:1", "--grant-seq", "0", "--key", "owner1"
        ).stdout
    )
    assert "refused request 2 of saic:1: no_grant" in request(cli, "diagnostics").stdout


def test_invalid_access_command_input(cli: Cli) -> None:
    res = cli.run(
        "access", "release", "--vehicle-id", "saic:1", "--request-seq", "0",
        "--category", "diagnostics", "--batch", "nothex:1:2", "--package-hash", "ab" * 32,
        "--key", "saic", ok=False,
    )  # fmt: skip
    assert res.exit_code == 2
    res = cli.run(
        "access", "receipt", "--vehicle-id", "saic:1", "--request-seq", "0",
        "--item", f"{HEADER}:x:{DIGEST}", "--key", "bosch", ok=False,
    )  # fmt: skip
    assert res.exit_code == 2
    res = cli.run(
        "consent", "grant", "--vehicle-id", "saic:1", "--category", "diagnostics",
        "--purpose", "profiling", "--recipient-id", "bosch", "--data-from-ms", "0",
        "--data-until-ms", FAR, "--expires-ms", FAR, "--key", "owner1", ok=False,
    )  # fmt: skip
    assert res.exit_code == 2


@pytest.mark.parametrize("value", ["?", "", "-1", "1e3", "\u00b2", "\u0661", str(2**63), "[/bold]"])
def test_invalid_event_seq_from_the_node_is_node_unavailable(value: str) -> None:
    res = {"result": {"events": [{"type": "access_requested", "attributes": {"seq": value}}]}}
    with pytest.raises(NodeUnavailable):
        get_event_seq(res, "access_requested", "seq")
    assert (
        get_event_seq(
            {"result": {"events": [{"type": "access_requested", "attributes": {"seq": "7"}}]}},
            "access_requested",
            "seq",
        )
        == 7
    )


@pytest.mark.parametrize(
    "value",
    [f"{HEADER}:1:2:3", f"{HEADER}:\u00b2:2", f"{HEADER}:1:{2**63}", "zz:1:2", f"{HEADER}:-1:2"],
)
def test_invalid_batch_option_is_a_bad_parameter(value: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_batch(value)
    with pytest.raises(typer.BadParameter):
        parse_item(value.replace(":2", f":{DIGEST}") if value.count(":") == 2 else value)


def test_access_log_json_is_the_proven_page(cli: Cli) -> None:
    """``access log``, ``vehicle access-log`` and ``access oem-log`` with ``--json`` print
    the page the SDK verifies at the same height: entries, size, app hash."""
    import json

    from carchain.cli.common import compute_json_value
    from carchain.sdk.client import Client

    if "granted" not in cli.run("consent", "list", "saic:1").stdout:
        grant(cli, "diagnostics")  # this test alone: the log has at least the grant
    doc = json.loads(cli.run("access", "log", "saic:1", "--json").stdout)
    with Client(cli.url) as c:
        page = c.access_log("saic:1", None, 20, doc["height"])
        oem_doc = json.loads(cli.run("access", "oem-log", "saic", "--json").stdout)
        oem_page = c.oem_access_log("saic", None, 20, oem_doc["height"])
    assert doc["size"] == page.size >= 1 and doc["app_hash"] == page.app_hash.hex()
    assert doc["events"] == compute_json_value(page.events)
    assert doc["owner_id"] == page.owner_id and doc["next_before"] == page.next_before
    same = json.loads(cli.run("vehicle", "access-log", "saic:1", "--json").stdout)
    assert same == doc  # no block in between: the same page
    assert oem_doc["events"] == compute_json_value(oem_page.events)
    assert oem_doc["oem_seqs"] == compute_json_value(oem_page.oem_seqs)
    assert {e["vehicle_id"] for e in oem_doc["events"]} == {"saic:1"}
