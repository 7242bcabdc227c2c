"""``carchain evidence export|verify`` as the officer and a court would run them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from carchain.cli.main import app
from tests.sdk.evidence_world import CaseWorld, case_world, cli_env

__all__ = ["case_world"]


def run(w: CaseWorld, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=cli_env(w.tmp))
    return result.exit_code, result.output


def test_officer_export_verifies_offline_naming_the_trust_hash(case_world: CaseWorld) -> None:
    w = case_world
    block = json.loads((w.authorized / "chain/block.json").read_text())
    code, out = run(w, "evidence", "verify", str(w.authorized), "--trust-hash", block["hash"])
    assert code == 0, out
    assert "verified case 1 (authorized" in out and "2 vehicles" in out
    assert f"trust root: block hash {block['hash']} given by you (--trust-hash)" in out
    modes = {p.stat().st_mode & 0o777 for p in w.authorized.rglob("*") if p.is_file()}
    assert modes == {0o600}


def test_verify_with_own_header_copy(case_world: CaseWorld, tmp_path: Path) -> None:
    w = case_world
    header = tmp_path / "header.json"
    header.write_text(json.dumps(w.header))
    code, out = run(w, "evidence", "verify", str(w.bundle), "--header", str(header))
    assert code == 0, out
    assert "verified case 1 (closed" in out and "trust root: your own copy" in out


def test_verify_names_the_broken_link(case_world: CaseWorld, tmp_path: Path) -> None:
    w = case_world
    root = tmp_path / "b"
    shutil.copytree(w.bundle, root)
    (root / "stray.json").write_text("{}")
    code, out = run(w, "evidence", "verify", str(root), "--trust-hash", w.header["hash"])
    assert code == 1
    assert "error invalid_proof: manifest: file stray.json is not in the manifest" in out
    assert "[link=manifest]" in out


def test_verify_without_trust_root_or_with_a_wrong_one_fails(case_world: CaseWorld) -> None:
    w = case_world
    code, out = run(w, "evidence", "verify", str(w.bundle))
    assert code == 1 and "error no_trust_root" in out
    code, out = run(w, "evidence", "verify", str(w.bundle), "--trust-hash", "ab" * 32)
    assert code == 1 and "block->trust root" in out and "verified" not in out


def test_export_refuses_a_data_directory_of_another_case(case_world: CaseWorld) -> None:
    w = case_world
    code, out = run(w, "evidence", "export", "2", "--data", str(w.data), "--out",
                    str(w.tmp / "other"), "--key", "officer", "--gateway", w.gclient.url,
                    "--node", w.client.url)  # fmt: skip
    assert code == 1 and "of case 1, not 2" in out
    assert not (w.tmp / "other").exists()


def test_export_after_close_is_refused_by_the_gateway(case_world: CaseWorld) -> None:
    """The gateway serves case reads only while the case is authorised."""
    w = case_world
    code, out = run(w, "evidence", "export", "1", "--data", str(w.data), "--out",
                    str(w.tmp / "late"), "--key", "officer", "--gateway", w.gclient.url,
                    "--node", w.client.url)  # fmt: skip
    assert code == 1 and out.startswith("error case_not_authorized"), out
    assert not (w.tmp / "late").exists()
