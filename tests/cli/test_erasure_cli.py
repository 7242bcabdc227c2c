"""``carchain erasure request|status|overdue`` and ``carchain hold place|lift`` end to end,
as an owner and two courts drive them against a real node process."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator

import pytest

from carchain.cli.common import get_event_attribute as compute_event_attribute
from carchain.cli.erasure import compute_utc_text
from tests.cli.test_cli import CARCHAIN, VIN, Cli, free_port, wait_for_node
from tests.conftest import Processes

KEYS = ("saic", "court1", "court2", "miit", "owner1", "owner2", "car1")
CASE_REF = hashlib.sha256(b"case (2026) Hu 0101 Xing Chu 17").hexdigest()


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """A keyring, a home with an OEM, two courts and a regulator, a running node, a car."""
    root = tmp_path_factory.mktemp("erasure-cli")
    c = Cli(root / "keys")
    for name in KEYS:
        c.run("keys", "new", name)
    home, port = root / "node", free_port()
    members = [
        "saic:SAIC Motor:oem:saic",
        "court1:Court One:court:court1",
        "court2:Court Two:court:court2",
        "miit:MIIT:regulator:miit",
    ]
    args = ["init", "--home", str(home), "--chain-id", "carchain-erasure-cli", "--port", str(port)]
    for m in members:
        args += ["--member", m]
    c.run(*args)
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
            "vehicle", "register", "--vehicle-id", "saic:e-1", "--vin", VIN,
            "--public-key", c.pk("car1"), "--owner", c.pk("owner1"),
            "--model", "RX5", "--year", "2024", "--key", "saic",
        )  # fmt: skip
        yield c
    finally:
        procs.kill_all()


SCOPE = ["--vehicle-id", "saic:e-1", "--from-ms", "0", "--until-ms", "5000"]


def test_erasure_under_a_hold_and_after_its_lift(cli: Cli) -> None:
    out = cli.run(
        "hold", "place", *SCOPE, "-c", "location", "--case-ref", CASE_REF, "--key", "court1"
    ).stdout
    assert "legal hold 0 on saic:e-1 placed" in out
    out = cli.run(
        "erasure", "request", *SCOPE, "-c", "location", "-c", "diagnostics", "--key", "owner1"
    ).stdout
    assert "erasure 0 of saic:e-1 requested" in out and out.strip().endswith("held")
    status = cli.run("erasure", "status", "saic:e-1").stdout
    assert "held" in status and "diagnostics,location" in status
    assert "legal hold 0 by court1 in force on location" in status
    # Only the placing court lifts it.
    res = cli.run(
        "hold", "lift", "--vehicle-id", "saic:e-1", "--seq", "0", "--key", "court2", ok=False
    )
    assert res.exit_code == 1 and "not_hold_owner" in res.stderr
    out = cli.run(
        "hold", "lift", "--vehicle-id", "saic:e-1", "--seq", "0", "--key", "court1"
    ).stdout
    assert "legal hold 0 on saic:e-1 lifted" in out
    status = cli.run("erasure", "status", "saic:e-1", "--seq", "0").stdout
    assert "open" in status and "legal hold" not in status
    out = cli.run("erasure", "overdue", "--oem", "saic").stdout
    assert "saic: 0 overdue now" in out


def test_invalid_erasure_commands(cli: Cli) -> None:
    res = cli.run("erasure", "request", *SCOPE, "-c", "location", "--key", "owner2", ok=False)
    assert res.exit_code == 1 and "unauthorized" in res.stderr
    res = cli.run("erasure", "request", *SCOPE, "-c", "vin", "--key", "owner1", ok=False)
    assert res.exit_code == 1 and "invalid_body" in res.stderr
    res = cli.run(
        "hold", "place", *SCOPE, "-c", "location", "--case-ref", CASE_REF, "--key", "saic", ok=False
    )
    assert res.exit_code == 1 and "unauthorized" in res.stderr
    res = cli.run(
        "hold", "place", *SCOPE, "-c", "location", "--case-ref", "abcd", "--key", "court1", ok=False
    )
    assert res.exit_code == 2  # not a 32-byte hash: refused before anything is signed
    res = cli.run("erasure", "status", "saic:e-1", "--seq", "99", ok=False)
    assert res.exit_code == 1 and "not_found" in res.stderr


def test_event_attribute_tolerates_a_hostile_answer() -> None:
    assert compute_event_attribute({}, "erasure_requested", "seq") == ""
    assert compute_event_attribute({"result": []}, "erasure_requested", "seq") == ""
    assert compute_event_attribute({"result": {"events": ["x", {"type": 1}]}}, "e", "seq") == ""
    good = {"result": {"events": [{"type": "e", "attributes": {"seq": "3"}}]}}
    assert compute_event_attribute(good, "e", "seq") == "3"


def test_utc_text() -> None:
    assert compute_utc_text(0) == "1970-01-01 00:00:00Z"
    assert compute_utc_text(2**62) == str(2**62)


@pytest.mark.parametrize(
    "command",
    [["erasure", "request"], ["hold", "place"], ["consent", "grant"], ["access", "request"]],
)
def test_window_and_category_options_are_named_alike(command: list[str]) -> None:
    """Every command that takes a data window and categories takes ``--data-from-ms``,
    ``--data-until-ms`` and ``--category``/``-c`` (erasure keeps ``--from-ms`` too)."""
    from typer.testing import CliRunner

    from carchain.cli.main import app

    res = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    for option in ("--data-from-ms", "--data-until-ms", "--category"):
        assert option in res.output
