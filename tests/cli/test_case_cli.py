"""``carchain case``, ``escrow`` and ``custodian`` as a user runs them against a live world
(embedded solo node + SAIC gateway): a whole case from open to close, with the
custodian service started as a real process and stopped by its pid, the officer's
``case fetch`` writing exactly the scoped segments (0600) and ``case.json``; misuse
exits 1 with one typed ``error <code>:`` line, bad options exit 2."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from carchain.cli.main import app
from carchain.core.case_records import DAY_MS
from carchain.core.cases import get_case
from carchain.sdk.chainview import ChainView
from carchain.sdk.keystore import save_key
from carchain.sim.case_world import CaseWorld, make_key, open_case_world
from tests.cli.test_cli import CARCHAIN
from tests.conftest import Processes
from tests.dataplane import wait_for

PASS = "a long test passphrase"
NAMES = ("police", "court", "court2", "caam", "audit", "saic", "officer", "stranger")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaseWorld]:
    tmp = tmp_path_factory.mktemp("case-cli")
    w = open_case_world(tmp, cars=3, past_days=1)
    keys = tmp / "keys"
    for name in NAMES:
        save_key(keys / f"{name}.json", make_key(name), PASS, n=2**10)
    for name in ("court", "caam", "audit"):
        save_key(keys / f"escrow-{name}.json", make_key("escrow/" + name), PASS, n=2**10)
    now = int(time.time() * 1000)
    for vid in ("saic:1", "saic:2", "saic:3"):
        w.upload_at(vid, max(now // DAY_MS * DAY_MS, now - 600_000))
    w.wait_anchored()
    try:
        yield w
    finally:
        w.close()


def env(world: CaseWorld) -> dict[str, str]:
    return {
        "CARCHAIN_KEYRING": str(world.tmp / "keys"),
        "CARCHAIN_PASSPHRASE": PASS,
        "CARCHAIN_NODE": world.node.url,
        "COLUMNS": "250",
        "NO_COLOR": "1",
    }


def run(world: CaseWorld, *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, list(args), env=env(world))
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


def window() -> list[str]:
    today = int(time.time() * 1000) // DAY_MS * DAY_MS
    return ["--data-from-ms", str(today), "--data-until-ms", str(today + DAY_MS)]


def open_args(*extra: str, key: str = "police") -> list[str]:
    return [
        "case", "open", "--case-ref", "SH-2026-0042", "--legal-basis", "rtsl_accident",
        "--officer-key", "officer", "--vehicle-id", "saic:1", "--vehicle-id", "saic:2",
        "-c", "location", "-c", "motion", *window(), "--justification-hash", "ab" * 32,
        "--key", key, *extra,
    ]  # fmt: skip


def test_a_whole_case_through_the_cli(world: CaseWorld, tmp_path: Path) -> None:
    out = run(world, *open_args()).output
    assert "opened case" in out
    case_id = int(out.split("opened case")[1].split()[0])
    assert "open" in run(world, "case", "show", "--case-id", str(case_id)).output
    expires = str(int(time.time() * 1000) + 30 * DAY_MS)
    delay = str(10 * DAY_MS)
    run(world, "case", "authorize", "--case-id", str(case_id), "-c", "location",
        "--expires-ms", expires, "--notice-delay-ms", delay, "--key", "court2")  # fmt: skip
    case = get_case(ChainView(world.client), case_id)
    assert case.scope is not None and case.scope.categories == ["location"]
    for m in ("court", "caam", "audit"):
        assert "approved" in run(world, "case", "approve", "--case-id", str(case_id),
                                 "--key", m).output  # fmt: skip
    shown = run(world, "case", "show", "--case-id", str(case_id)).output
    assert "authorized" in shown and "court, caam, audit" in shown

    # one custodian service as a real process, the other two in this process
    procs = Processes()
    try:
        proc = procs.start(
            [CARCHAIN, "custodian", "start", "--key", "court", "--escrow-key", "escrow-court",
             "--gateway", world.gateway.url, "--home", str(tmp_path / "court-home"),  # type: ignore[union-attr]
             "--interval", "0.05"],
            env={**os.environ, **env(world)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        world.start_custodian("caam")
        world.start_custodian("audit")
        view = ChainView(world.client)
        wait_for(lambda: get_case(view, case_id).released_keys >= 6, 60, "releases")
        os.kill(proc.pid, 15)  # SIGTERM: the service stops cleanly
        assert proc.wait(timeout=30) == 0
    finally:
        procs.kill_all()
    status = run(world, "custodian", "status", "--home", str(tmp_path / "court-home")).output
    assert "cursor:" in status

    data = tmp_path / "case-data"
    fetched = run(world, "case", "fetch", str(case_id), "--key", "officer", "--out", str(data),
                  "--gateway", world.gateway.url).output  # type: ignore[union-attr]  # fmt: skip
    assert "receipted" in fetched and "fetched 2 segments" in fetched
    doc = json.loads((data / "case.json").read_text())
    assert doc["case_id"] == case_id and doc["chain_id"] == "carchain-cases"
    assert {(i["vehicle_id"], i["category"]) for i in doc["items"]} == {
        ("saic:1", "location"), ("saic:2", "location")
    }  # fmt: skip
    for item in doc["items"]:
        path = data / item["vehicle_id"] / f"{item['header_hash']}-location.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert all(set(p["fields"]) == {"lat", "lon"} for p in json.loads(path.read_text()))
    assert not (data / "saic:3").exists()
    listing = run(world, "case", "list").output
    assert "authorized" in listing

    run(world, "case", "extend-notice", "--case-id", str(case_id),
        "--notice-delay-ms", str(20 * DAY_MS), "--key", "court2")  # fmt: skip
    report = tmp_path / "report.pdf"
    report.write_bytes(b"final report")
    run(world, "case", "report", "--case-id", str(case_id), "--report-file", str(report),
        "--key", "police")  # fmt: skip
    assert "closed" in run(world, "case", "close", "--case-id", str(case_id), "--key",
                           "police").output  # fmt: skip
    assert "closed" in run(world, "case", "show", "--case-id", str(case_id)).output


def test_invalid_transitions_print_one_typed_error(world: CaseWorld) -> None:
    res = run(world, *open_args(key="court2"), code=1)  # a court cannot open
    assert res.output.startswith("error ") and res.output.count("\n") == 1
    out = run(world, *open_args()).output
    case_id = out.split("opened case")[1].split()[0]
    expires = str(int(time.time() * 1000) + DAY_MS)
    res = run(
        world,
        "case",
        "authorize",
        "--case-id",
        case_id,
        "--expires-ms",
        expires,
        "--notice-delay-ms",
        "0",
        "--key",
        "police",
        code=1,
    )  # police cannot authorise
    assert res.output.startswith("error ")
    res = run(world, "case", "approve", "--case-id", case_id, "--key", "caam", code=1)
    assert "error case_not_authorized" in res.output  # not authorised yet
    run(
        world,
        "case",
        "reject",
        "--case-id",
        case_id,
        "--reason",
        "insufficient_basis",
        "--key",
        "court2",
    )
    res = run(world, "case", "reject", "--case-id", case_id, "--reason", "other",
              "--key", "court2", code=1)  # fmt: skip
    assert "error case_not_open" in res.output
    res = run(world, "case", "show", "--case-id", "999", code=1)
    assert "error not_found" in res.output
    res = run(world, "case", "fetch", case_id, "--key", "stranger", "--out", str(world.tmp / "x"),
              "--gateway", world.gateway.url, code=1)  # type: ignore[union-attr]  # fmt: skip
    assert "error unauthorized" in res.output and not (world.tmp / "x").exists()


@pytest.mark.parametrize(
    "args",
    [
        [
            "case",
            "open",
            "--case-ref",
            "r",
            "--legal-basis",
            "rtsl_accident",
            "--officer-key",
            "officer",
            "--justification-hash",
            "ab" * 32,
            "--key",
            "police",
        ],  # no scope
        [*open_args()[:-2], "--justification-file", "/nonexistent", "--key", "police"],  # both
        [*open_args()[:-4], "--justification-hash", "zz", "--key", "police"],  # not hex
        [*open_args()[:-4], "--justification-hash", "ab", "--key", "police"],  # not 32 bytes
        [*open_args()[:5], "gossip", *open_args()[6:]],  # not in the code table
        ["case", "decline", "--case-id", "1", "--reason", "bored", "--key", "caam"],
        ["case", "reject", "--case-id", "1", "--reason", "free text", "--key", "court2"],
        ["case", "show", "--case-id", "0"],
        ["case", "list", "--limit", "1000"],
        ["case", "fetch", "x", "--key", "officer", "--out", "/tmp/x", "--gateway", "http://a"],
        [*open_args()[:-2], "--key", "../police"],
        ["escrow", "committee", "--epoch", "-1"],
        ["custodian", "approve", "0"],
    ],
)
def test_invalid_options_exit_2(world: CaseWorld, args: list[str]) -> None:
    run(world, *args, code=2)


def test_invalid_missing_key_is_one_typed_line(world: CaseWorld) -> None:
    res = run(world, *open_args()[:-2], "--key", "nobody", code=1)
    assert res.output.strip().startswith("error key_missing: no key named 'nobody'")


def test_escrow_commands(world: CaseWorld) -> None:
    shown = run(world, "escrow", "committee").output
    assert "3 of 4" in shown and "caam" in shown and "(the vehicle's OEM)" in shown
    res = run(world, "escrow", "committee", "--epoch", "1", code=1)
    assert "error not_found" in res.output
    assert "registered" in run(world, "escrow", "register-key", "--escrow-key", "stranger",
                               "--key", "police").output  # fmt: skip
    with __import__("carchain.sdk.cases", fromlist=["CaseClient"]).CaseClient(world.node.url) as c:
        assert c.escrow_key("police")["escrow_key"] == make_key("stranger").public_key.hex()


def test_custodian_local_approvals(world: CaseWorld, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert "approved case 5 locally" in run(world, "custodian", "approve", "5", "--home",
                                            str(home)).output  # fmt: skip
    assert "already approved" in run(world, "custodian", "approve", "5", "--home",
                                     str(home)).output  # fmt: skip
    assert "case" in run(world, "custodian", "pending", "--home", str(home)).output
