"""``carchain v2x`` as a user drives it: make a CA and a pseudonym locally, sign a CAM and
a DENM from JSON, verify (certificate then digest signer), decode; bad input and refused
messages exit 1 with the typed error's one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carchain.cli.main import app

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"
ENV = {"CARCHAIN_PASSPHRASE": "correct horse"}


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, ["v2x", *args], env=ENV)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("v2x")
    run("keygen", str(d / "ca.key"))
    run("ca-cert", "--key", str(d / "ca.key"), "--out", str(d / "ca.cert"))
    run("keygen", str(d / "car.key"))
    run(
        "pseudonym-cert",
        "--ca-key", str(d / "ca.key"),
        "--ca-cert", str(d / "ca.cert"),
        "--key", str(d / "car.key"),
        "--out", str(d / "car.cert"),
        "--i-cert", "3",
        "--linkage-value", "0a" * 9,
    )  # fmt: skip
    return d


def sign(pki: Path, kind: str = "cam", signer: str = "certificate") -> str:
    out = run(
        "sign", "--kind", kind, "--json", str(EXAMPLES / f"{kind}.json"),
        "--cert", str(pki / "car.cert"), "--key", str(pki / "car.key"), "--signer", signer,
    )  # fmt: skip
    return "".join(out.split())


def verify(pki: Path, message: str, *extra: str, code: int = 0) -> str:
    return run("verify", message, "--ca", str(pki / "ca.cert"), *extra, code=code)


def test_sign_verify_decode_cam(pki: Path) -> None:
    message = sign(pki)
    summary = json.loads(verify(pki, message))
    assert summary["verified"] and summary["psid"] == 36 and summary["signer"] == "certificate"
    assert summary["payload"]["header"]["stationID"] == 4242
    decoded = json.loads(run("decode", message))
    assert decoded["size"] == len(message) // 2
    assert decoded["payload"]["header"]["stationID"] == 4242


def test_digest_signer_needs_the_certificate(pki: Path) -> None:
    message = sign(pki, signer="digest")
    assert len(message) // 2 < 140
    out = verify(pki, message, code=1)
    assert "v2x_rejected" in out and "unknown_signer" in out
    summary = json.loads(verify(pki, message, "--signer-cert", str(pki / "car.cert")))
    assert summary["signer"] == "digest"


def test_sign_and_verify_denm(pki: Path) -> None:
    summary = json.loads(verify(pki, sign(pki, "denm")))
    assert summary["psid"] == 37 and "denm" in summary["payload"]


def test_invalid_tampered_message(pki: Path) -> None:
    message = bytearray.fromhex(sign(pki))
    message[-1] ^= 1
    out = verify(pki, message.hex(), code=1)
    assert "v2x_rejected" in out and "bad_signature" in out


def test_invalid_revoked_linkage_value(pki: Path) -> None:
    out = verify(pki, sign(pki), "--revoked", "0a" * 9 + ":3", code=1)
    assert "revoked_linkage" in out


def test_invalid_unknown_ca(pki: Path, tmp_path: Path) -> None:
    run("keygen", str(tmp_path / "other.key"))
    run("ca-cert", "--key", str(tmp_path / "other.key"), "--out", str(tmp_path / "other.cert"))
    out = run("verify", sign(pki), "--ca", str(tmp_path / "other.cert"), code=1)
    assert "unknown_ca" in out


def test_invalid_garbage_hex_and_json(pki: Path, tmp_path: Path) -> None:
    assert "v2x_decode_error" in run("decode", "0381", code=1)
    assert run("decode", "zz", code=2)
    assert "malformed" in verify(pki, "00" * 40, code=1)
    bad = tmp_path / "bad.json"
    bad.write_text('{"header": 1}')
    out = run(
        "sign", "--kind", "cam", "--json", str(bad),
        "--cert", str(pki / "car.cert"), "--key", str(pki / "car.key"), code=1,
    )  # fmt: skip
    assert "v2x_decode_error" in out


def test_invalid_wrong_passphrase(pki: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["v2x", "sign", "--kind", "cam", "--json", str(EXAMPLES / "cam.json"),
         "--cert", str(pki / "car.cert"), "--key", str(pki / "car.key")],
        env={"CARCHAIN_PASSPHRASE": "wrong"},
    )  # fmt: skip
    assert result.exit_code == 1 and "decryption_failed" in result.output
