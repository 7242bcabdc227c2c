"""``carchain transparency report|annual`` and ``carchain oem sealed-cases|verify-releases|
statement|statement-verify`` as a user runs them against the in-process API of a node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from carchain.cli import common
from carchain.cli.main import app
from carchain.core import transparency as tr
from carchain.core.case_records import DAY_MS
from carchain.sdk.client import Client
from carchain.sdk.keystore import save_key
from tests.core.lawful_world import get_case
from tests.lawful_node import NodeChain, node_chain, run_case

__all__ = ["node_chain"]
PASS = "a long test passphrase"


class _InProcess(Client):
    """The SDK over the node's in-process app; closing leaves the app open."""

    def close(self) -> None:
        return None


@pytest.fixture
def cli(node_chain: NodeChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> NodeChain:
    def make(_: str) -> Client:
        c = _InProcess("http://testserver")
        c._http = node_chain.http
        return c

    monkeypatch.setattr(common, "client", make)
    for name in ("saic", "geely"):
        save_key(tmp_path / "keys" / f"{name}.json", node_chain.key(name), PASS, n=2**10)
    return node_chain


def run(tmp_path: Path, *args: str, ok: bool = True) -> Any:
    env = {
        "CARCHAIN_KEYRING": str(tmp_path / "keys"),
        "CARCHAIN_PASSPHRASE": PASS,
        "COLUMNS": "250",
        "NO_COLOR": "1",
    }
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == (0 if ok else 1), (args, result.output, result.exception)
    return result


def test_never_counted_scope_is_not_called_proven(cli: NodeChain, tmp_path: Path) -> None:
    out = run(tmp_path, "transparency", "report", "--period", "1999Q1").output
    assert "not proven" in out and "counters against app hash" not in out
    out = run(tmp_path, "transparency", "annual", "--oem", "geely", "--year", "1999").output
    assert "not proven" in out
    doc = json.loads(run(tmp_path, "transparency", "report", "--period", "1999Q1", "--json").output)
    assert doc["size_proven"] is False


def test_transparency_report_and_annual(cli: NodeChain, tmp_path: Path) -> None:
    run_case(cli)
    period = tr.compute_quarter(get_case(cli).opened_ms)  # type: ignore[arg-type]
    out = run(tmp_path, "transparency", "report", "--period", period).output
    assert "authority/police" in out and "proven" in out
    doc = json.loads(run(tmp_path, "transparency", "report", "--period", period, "--json").output)
    assert doc["counters"]["state/authorized"] == 1
    year = str(tr.compute_year(cli.now_ms))
    out = run(tmp_path, "transparency", "annual", "--oem", "saic", "--year", year).output
    assert "cases_authorized" in out and f"{year}-12-15" in out
    annual = json.loads(
        run(tmp_path, "transparency", "annual", "--oem", "saic", "--year", year, "--json").output
    )
    assert annual["totals"]["vehicles"] == 2
    bad = run(tmp_path, "transparency", "report", "--period", "2026Q9", ok=False)
    assert "error bad_request" in bad.output


def test_oem_sealed_cases_and_release_audit(cli: NodeChain, tmp_path: Path) -> None:
    case_id = run_case(cli, notice_delay_ms=30 * DAY_MS)
    out = run(tmp_path, "oem", "sealed-cases", "--oem", "saic").output
    assert "sealed" in out and "rtsl_accident" in out and "saic:2" in out
    assert get_case(cli, case_id).case_ref.hex() not in out  # type: ignore[arg-type]
    out = run(tmp_path, "oem", "verify-releases", "--oem", "saic").output
    assert "verified 1 releases" in out
    by_key = run(tmp_path, "oem", "sealed-cases", "--key", "saic").output
    assert "saic:1" in by_key and "rtsl_accident" in by_key
    assert "verified 1 releases" in run(tmp_path, "oem", "verify-releases", "-k", "saic").output
    assert "verified 0 releases" in run(tmp_path, "oem", "verify-releases", "-k", "geely").output


def test_oem_statement_and_offline_verify(cli: NodeChain, tmp_path: Path) -> None:
    sealed = run_case(cli, notice_delay_ms=30 * DAY_MS)
    out_file = tmp_path / "statement.json"
    args = ["oem", "statement", "--vehicle", "saic:1", "--from", "2020-01-01"]
    args += ["--until", str(cli.now_ms + 1), "--out", str(out_file), "--key", "saic"]
    refused = run(tmp_path, *args, ok=False)
    assert "error sealed_case_pending" in refused.output and not out_file.exists()
    cli.advance_to(get_case(cli, sealed).notice_due_ms)  # type: ignore[arg-type]
    cli.tick()
    args[args.index("--until") + 1] = str(cli.now_ms + 1)
    run(tmp_path, *args)
    assert out_file.stat().st_mode & 0o777 == 0o600
    doc = json.loads(out_file.read_text())
    block = cli.get(f"/blocks/{doc['proof_height']}")
    out = run(
        tmp_path, "oem", "statement-verify", str(out_file), "--trust-hash", block["hash"]
    ).output
    assert "verified" in out and "case_notice" in out and "case_release" not in out
    doc["log_entries"].pop()
    out_file.write_text(json.dumps(doc))
    bad = run(
        tmp_path, "oem", "statement-verify", str(out_file), "--trust-hash", block["hash"], ok=False
    )
    assert "error invalid_proof" in bad.output
    wrong_key = run(tmp_path, *args[:-1], "geely", ok=False)
    assert "error unauthorized" in wrong_key.output
