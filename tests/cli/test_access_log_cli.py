"""``carchain vehicle access-log`` and ``access-log-verify`` as a user runs them (the
node is the in-process API of a test chain): a table newest first, a signed export
that verifies, and each tamper refused as one ``error <code>: ...`` line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from carchain.cli import common
from carchain.cli.main import app
from carchain.sdk.client import Client
from carchain.sdk.keystore import save_key
from tests.access_log_chain import LogChain, log_chain, test_tx_type
from tests.conftest import seeded_key
from tests.core.test_vehicles import OWNER

__all__ = ["log_chain", "test_tx_type"]
PASS = "a long test passphrase"


class _InProcess(Client):
    """The SDK over the test chain's in-process app; closing leaves the app open."""

    def close(self) -> None:
        return None


@pytest.fixture
def cli(log_chain: LogChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LogChain:
    def make(_: str) -> Client:
        c = _InProcess("http://testserver")
        c._http = log_chain.http
        return c

    monkeypatch.setattr(common, "client", make)
    save_key(tmp_path / "keys" / "owner.json", OWNER, PASS, n=2**10)
    save_key(tmp_path / "keys" / "stranger.json", seeded_key("stranger"), PASS, n=2**10)
    log_chain.register("saic:1")
    log_chain.append("saic:1", 3, "grant")
    log_chain.append("saic:1", 2, "refused")
    return log_chain


def run(tmp_path: Path, *args: str, ok: bool = True) -> Any:
    env = {
        "CARCHAIN_KEYRING": str(tmp_path / "keys"),
        "CARCHAIN_PASSPHRASE": PASS,
        "COLUMNS": "250",
        "NO_COLOR": "1",
    }
    result = CliRunner().invoke(app, list(args), env=env)
    if ok:
        assert result.exit_code == 0, (args, result.output, result.exception)
    else:
        assert result.exit_code == 1, (args, result.output, result.exception)
    return result


def _seqs(output: str) -> list[int]:
    return [int(line.split()[1]) for line in output.splitlines() if line.startswith("│ ")]


def test_access_log_table_newest_first_and_paged(cli: LogChain, tmp_path: Path) -> None:
    out = run(tmp_path, "vehicle", "access-log", "saic:1", "--limit", "3").output
    assert _seqs(out) == [4, 3, 2] and "refused" in out and "proven" in out
    assert "--before 2" in out
    out = run(tmp_path, "vehicle", "access-log", "saic:1", "--before", "2").output
    assert _seqs(out) == [1, 0] and "grant" in out and "--before" not in out
    assert _seqs(run(tmp_path, "vehicle", "access-log", "saic:1", "--all").output) == [
        4,
        3,
        2,
        1,
        0,
    ]


def test_access_log_of_unknown_vehicle_is_one_error_line(cli: LogChain, tmp_path: Path) -> None:
    out = run(tmp_path, "vehicle", "access-log", "saic:9", ok=False).output
    assert out.strip().startswith("error not_found:") and len(out.strip().splitlines()) == 1


def test_bad_limit_is_refused_before_asking(cli: LogChain, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["vehicle", "access-log", "saic:1", "--limit", "101"])
    assert res.exit_code == 2


def _export(tmp_path: Path, *extra: str) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "log.json"
    run(
        tmp_path,
        "vehicle",
        "access-log",
        "saic:1",
        "--all",
        "--export",
        str(path),
        "--key",
        "owner",
        *extra,
    )
    return path, json.loads(path.read_text())


def _trust(cli: LogChain, doc: dict[str, Any]) -> list[str]:
    return ["--trust-hash", cli.get(f"/blocks/{doc['proof_height']}")["hash"]]


def test_export_then_verify_round_trip(cli: LogChain, tmp_path: Path) -> None:
    path, doc = _export(tmp_path)
    out = run(tmp_path, "vehicle", "access-log-verify", str(path), *_trust(cli, doc)).output
    assert out.startswith("verified access log of saic:1: seqs 4 down to 0, the whole log")
    assert _seqs(out) == [4, 3, 2, 1, 0] and "trust root:" in out
    header = tmp_path / "header.json"
    header.write_text(json.dumps(doc["block"]))
    assert (
        "verified"
        in run(tmp_path, "vehicle", "access-log-verify", str(path), "--header", str(header)).output
    )


def test_export_needs_the_owners_key(cli: LogChain, tmp_path: Path) -> None:
    out = run(
        tmp_path,
        "vehicle",
        "access-log",
        "saic:1",
        "--export",
        str(tmp_path / "x.json"),
        "--key",
        "stranger",
        ok=False,
    ).output
    assert out.startswith("error unauthorized:") and not (tmp_path / "x.json").exists()
    res = CliRunner().invoke(app, ["vehicle", "access-log", "saic:1", "--export", "x.json"])
    assert res.exit_code == 2


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("dropped", "invalid_signature"),
        ("edited", "invalid_signature"),
        ("reordered", "invalid_signature"),
        ("signature", "invalid_signature"),
        ("not json", "malformed_bundle"),
        ("untrusted", "untrusted_header"),
    ],
)
def test_tampered_export_is_one_error_line(
    cli: LogChain, tmp_path: Path, name: str, code: str
) -> None:
    path, doc = _export(tmp_path)
    trust = _trust(cli, doc)
    if name == "dropped":
        del doc["events"][1]
    elif name == "edited":
        doc["events"][0]["value"] = doc["events"][1]["value"]
    elif name == "reordered":
        doc["events"].reverse()
    elif name == "signature":
        doc["signature"] = "00" * 64
    elif name == "untrusted":
        trust = ["--trust-hash", "11" * 32]
    text = "{not json" if name == "not json" else json.dumps(doc)
    path.write_text(text)
    out = run(tmp_path, "vehicle", "access-log-verify", str(path), *trust, ok=False).output
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error {code}:"), out


def test_verify_without_trust_root_is_refused(cli: LogChain, tmp_path: Path) -> None:
    path, _ = _export(tmp_path)
    out = run(tmp_path, "vehicle", "access-log-verify", str(path), ok=False).output
    assert out.startswith("error no_trust_root:")


def test_member_access_log_shows_all_the_oems_vehicles(cli: LogChain, tmp_path: Path) -> None:
    cli.register("saic:2")
    cli.append("saic:2", 1, "release")
    out = run(tmp_path, "member", "access-log", "saic", "--limit", "2").output
    rows = [line.split("│")[1:4] for line in out.splitlines() if line.startswith("│ ")]
    assert [[c.strip() for c in r] for r in rows] == [["5", "saic:2", "0"], ["4", "saic:1", "4"]]
    assert "--before 4" in out and "proven" in out
    rows = [ln for ln in run(tmp_path, "member", "access-log", "saic", "--all").output.splitlines()]
    assert sum(ln.startswith("│ ") for ln in rows) == 6
    out = run(tmp_path, "member", "access-log", "nobody", ok=False).output
    assert out.startswith("error not_found:")


def test_hostile_vehicle_id_is_printed_as_text(cli: LogChain, tmp_path: Path) -> None:
    out = run(tmp_path, "vehicle", "access-log", "[bold]x", ok=False).output
    assert out.startswith("error not_found:")


def test_access_log_through_the_light_client(
    cli: LogChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a trust root and --rpc, the page's app hash is a light-client-verified header's
    (a CometBFT-shaped answer: state height h proves against header h + 1)."""
    import time

    from carchain.cli import access_log as cli_log
    from carchain.sdk.light import compute_header_hash
    from tests.conftest import CHAIN_ID
    from tests.sdk.lightchain import make_chain, make_keys

    height = cli.node.engine.height
    app_hash = bytes.fromhex(cli.get(f"/blocks/{height}")["app_hash"])
    keys = make_keys(4, "member")
    start = int(time.time()) - height - 5
    chain = make_chain(CHAIN_ID, {1: keys}, height + 1, start, app_hash=app_hash)
    monkeypatch.setattr(cli_log, "make_rpc_provider", lambda _: chain.provider())
    real = Client.access_log_doc

    def network_shaped(self: Client, *args: Any, **kwargs: Any) -> dict[str, Any]:
        doc = real(self, *args, **kwargs)
        return doc | {"proof_height": doc["height"] + 1}

    monkeypatch.setattr(Client, "access_log_doc", network_shaped)
    root_hash = compute_header_hash(chain.blocks[1].header).hex()
    trust = ["--rpc", "http://127.0.0.1:1", "--trust-height", "1", "--trust-hash", root_hash]
    out = run(tmp_path, "vehicle", "access-log", "saic:1", "--all", *trust).output
    assert _seqs(out) == [4, 3, 2, 1, 0] and "light client from trusted block 1" in out
    wrong = ["--rpc", "http://127.0.0.1:1", "--trust-height", "1", "--trust-hash", "22" * 32]
    out = run(tmp_path, "vehicle", "access-log", "saic:1", *wrong, ok=False).output
    assert out.startswith("error untrusted_header:")
    out = run(tmp_path, "vehicle", "access-log", "saic:1", "--trust-height", "1", ok=False).output
    assert out.startswith("error no_trust_root:")
