"""``carchain v2x`` SCMS commands end to end against a real node process: the OEM
registers its pseudonym CA, the regulator names the two LAs, a report is relayed and
reviewed, both LAs release seeds, and ``revocations`` shows the car's values revoked."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from carchain.core import v2x_revocation as rvk
from carchain.crypto import linkage as lk
from carchain.crypto.ecdsa import P256SigningKey
from carchain.crypto.signing import SigningKey
from carchain.sdk.keystore import save_key
from carchain.v2x.certificates import PSID_CAM, LinkageData, build_pseudonym_certificate
from tests.cli.test_cli import CARCHAIN, PASS, Cli, free_port, wait_for_node
from tests.conftest import Processes

KEYS = ("saic", "miit", "caam", "cstc", "mama")
CHAIN = "carchain-v2x-cli"
S1, S2 = b"\x0a" * 16, b"\x0b" * 16


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    root = tmp_path_factory.mktemp("v2x-cli")
    c = Cli(root / "keys")
    for name in KEYS:
        c.run("keys", "new", name)
    home, port = root / "node", free_port()
    members = [
        "saic:SAIC Motor:oem:saic",
        "miit:MIIT:regulator:miit",
        "caam:CAAM:linkage_authority:caam",
        "cstc:CSTC:linkage_authority:cstc",
        "mama:MA:misbehaviour_authority:mama",
    ]
    args = ["init", "--home", str(home), "--chain-id", CHAIN, "--port", str(port)]
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
        yield c
    finally:
        procs.kill_all()


def vote_all(cli: Cli, proposal: str, *voters: str) -> None:
    for v in voters:
        out = cli.run("member", "vote", proposal, "--key", v).stdout
        if "executed" in out:
            return
    raise AssertionError(f"proposal {proposal} did not execute")


def proposal_of(output: str) -> str:
    return output.rsplit("proposal ", 1)[1].split()[0].rstrip(":")


def test_scms_flow_through_the_cli(cli: Cli) -> None:
    now = int(time.time())
    out = cli.run(
        "v2x",
        "set-linkage-authorities",
        "--la1",
        "caam",
        "--la1-id",
        "1",
        "--la2",
        "cstc",
        "--la2-id",
        "2",
        "--key",
        "miit",
    ).stdout
    vote_all(cli, proposal_of(out), "saic", "caam", "cstc", "mama")
    out = cli.run(
        "v2x",
        "register-ca",
        "--oem",
        "saic",
        "--ca-name",
        "saic-pca",
        "--start-s",
        str(now - 86400 * 8),
        "--key",
        "saic",
    ).stdout
    hid = out.split("pseudonym CA ", 1)[1].split()[0]
    vote_all(cli, proposal_of(out), "miit", "caam", "cstc", "mama")

    # A pseudonym for the reporter, issued by the CA (its key and cert in the keyring).
    ca_cert = bytes.fromhex((cli.keyring / "saic-pca.cert").read_text())
    from carchain.sdk.keystore import load_key

    ca_key = P256SigningKey.from_bytes(load_key(cli.keyring / "saic-pca.json", PASS).seed())
    pseudo = P256SigningKey.generate()
    cert = build_pseudonym_certificate(
        ca_cert,
        ca_key,
        pseudo.public_key_compressed,
        now - 60,
        24,
        [PSID_CAM],
        LinkageData(1, b"\x01" * 9),
    )
    save_key(cli.keyring / "me.json", SigningKey.from_seed(pseudo.to_bytes()), PASS, n=2**10)
    (cli.keyring / "me.cert").write_text(cert.hex())
    out = cli.run(
        "v2x",
        "report",
        "--evidence",
        "0381deadbeef",
        "--reason",
        "impossible_speed",
        "--observed-ms",
        str(now * 1000),
        "--pseudonym",
        "me",
        "--chain-id",
        CHAIN,
        "--key",
        "saic",
    ).stdout
    assert "report 1 submitted" in out

    i = rvk.compute_period(int(time.time()))
    lv = lk.compute_linkage_value(lk.compute_plv(1, S1, 2), lk.compute_plv(2, S2, 2))
    out = cli.run(
        "v2x",
        "review",
        "1",
        "--verdict",
        "revoke",
        "--ca",
        hid,
        "--linkage-value",
        lv.hex(),
        "--period",
        str(i),
        "--key",
        "mama",
    ).stdout
    assert "decision 1" in out
    refused = cli.run(
        "v2x", "release-seed", "--decision", "1", "--seed", S1.hex(), "--key", "mama", ok=False
    )
    assert refused.exit_code != 0 and "unauthorized" in refused.output
    assert (
        "seed released"
        in cli.run(
            "v2x", "release-seed", "--decision", "1", "--seed", S1.hex(), "--key", "caam"
        ).stdout
    )
    assert (
        "revoked"
        in cli.run(
            "v2x", "release-seed", "--decision", "1", "--seed", S2.hex(), "--key", "cstc"
        ).stdout
    )
    out = cli.run("v2x", "revocations", "--linkage-value", lv.hex(), "--period", str(i)).stdout
    assert f"{lv.hex()} in period {i}: revoked" in out
    other = lk.compute_linkage_value(lk.compute_plv(1, S1, 2), lk.compute_plv(2, S1, 2))
    assert (
        "not revoked"
        in cli.run("v2x", "revocations", "--linkage-value", other.hex(), "--period", str(i)).stdout
    )


def test_invalid_cli_input_is_refused_cleanly(cli: Cli) -> None:
    bad = cli.run(
        "v2x",
        "revoke",
        "--ca",
        "00",
        "--linkage-value",
        "00" * 9,
        "--period",
        "1",
        "--key",
        "mama",
        ok=False,
    )
    assert bad.exit_code != 0 and "8 bytes" in bad.output
