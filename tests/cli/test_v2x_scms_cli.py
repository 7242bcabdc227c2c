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
from carchain.v2x import keyfile
from carchain.v2x.certificates import (
    PSID_CAM,
    LinkageData,
    build_pseudonym_certificate,
    decode_certificate,
)
from tests.cli.test_cli import CARCHAIN, PASS, VIN, Cli, free_port, wait_for_node
from tests.conftest import Processes

KEYS = ("saic", "miit", "caam", "cstc", "mama", "pca-box", "car1", "owner1")
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
        setup_scms(c)
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


def setup_scms(cli: Cli) -> None:
    """Name the LAs, register SAIC's pseudonym CA, register a car: all through the CLI."""
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
    (cli.keyring / "ca-id").write_text(out.split("pseudonym CA ", 1)[1].split()[0])
    vote_all(cli, proposal_of(out), "miit", "caam", "cstc", "mama")
    cli.run(
        "vehicle", "register", "--vehicle-id", "saic:v-1", "--vin", VIN,
        "--public-key", cli.pk("car1"), "--owner", cli.pk("owner1"),
        "--model", "RX5", "--year", "2024", "--key", "saic",
    )  # fmt: skip


def test_scms_flow_through_the_cli(cli: Cli) -> None:
    now = int(time.time())
    hid = (cli.keyring / "ca-id").read_text()

    # A pseudonym for the reporter, issued by the CA (its key and cert in the keyring).
    ca_cert = bytes.fromhex((cli.keyring / "saic-pca.cert").read_text())
    ca_key = keyfile.load_p256_key(cli.keyring / "saic-pca.v2xkey", PASS)
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
    keyfile.save_p256_key(cli.keyring / "me.v2xkey", pseudo, PASS, n=2**10)
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
    # the chain holds only the hash and the boxes; the MA opens its box
    out = cli.run("v2x", "report-evidence", "1", "--key", "mama").stdout
    assert "report 1 evidence (impossible_speed): 0381deadbeef" in out
    refused = cli.run("v2x", "report-evidence", "1", "--key", "saic", ok=False)
    assert refused.exit_code != 0 and "decryption_failed" in refused.output
    assert "0381deadbeef" not in refused.output

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


def test_issue_report_and_revoke_a_car_through_the_cli(cli: Cli) -> None:
    hid = (cli.keyring / "ca-id").read_text()
    scms = cli.keyring.parent / "scms"
    out = cli.run(
        "v2x", "issue", "--vehicle-id", "saic:v-1", "--vehicle-key", "car1", "--oem", "saic",
        "--ca-name", "saic-pca", "--pca-key", "pca-box", "--la1-key", "caam", "--la2-key", "cstc",
        "--out", "v1", "--scms-dir", str(scms), "--count", "5",
    ).stdout  # fmt: skip
    assert "5 pseudonyms for saic:v-1" in out
    certs = [
        decode_certificate(bytes.fromhex((cli.keyring / f"v1-{k}.cert").read_text()))
        for k in range(5)
    ]
    assert all(c.issuer_id8.hex() == hid for c in certs if c.issuer_id8)  # type: ignore[union-attr]
    assert oct((scms / "la1.state").stat().st_mode)[-3:] == "600"
    assert b"saic:v-1" not in (scms / "la1.state").read_bytes()
    # a second batch comes from the car's same LA chains (the RA keeps them across runs),
    # so a revocation also covers what the car asks for later: the same period's values
    cli.run(
        "v2x", "issue", "--vehicle-id", "saic:v-1", "--vehicle-key", "car1", "--oem", "saic",
        "--ca-name", "saic-pca", "--pca-key", "pca-box", "--la1-key", "caam", "--la2-key", "cstc",
        "--out", "v1b", "--scms-dir", str(scms), "--count", "5",
    )  # fmt: skip
    again = [
        decode_certificate(bytes.fromhex((cli.keyring / f"v1b-{k}.cert").read_text()))
        for k in range(5)
    ]
    assert [c.linkage for c in again] == [c.linkage for c in certs]
    bad = certs[1]
    assert bad.linkage is not None
    i, lv = bad.linkage.i_cert, bad.linkage.linkage_value
    out = cli.run(
        "v2x",
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
    seq = out.split("revocation decision ", 1)[1].split(":")[0]
    (cli.keyring / "bad.cert").write_text(bad.raw.hex())
    bad_file = str(cli.keyring / "bad.cert")

    def la_seed(n: int, key: str) -> str:
        args = ["--certificate", bad_file, "--la", str(n), "--la-key", key, "--period", str(i)]
        return str(cli.run("v2x", "la-seed", *args, "--scms-dir", str(scms)).stdout.strip())

    seeds = [la_seed(1, "caam"), la_seed(2, "cstc")]
    cli.run("v2x", "release-seed", "--decision", seq, "--seed", seeds[0], "--key", "caam")
    assert (
        "revoked"
        in cli.run(
            "v2x", "release-seed", "--decision", seq, "--seed", seeds[1], "--key", "cstc"
        ).stdout
    )
    for c in certs:  # every pseudonym of the car, not only the reported one
        assert c.linkage is not None
        out = cli.run(
            "v2x",
            "revocations",
            "--linkage-value",
            c.linkage.linkage_value.hex(),
            "--period",
            str(i),
        ).stdout
        assert ": revoked" in out


def test_revocations_json_is_the_chain_record(cli: Cli) -> None:
    """After the flows above revoked values, ``--json`` holds each decision as the chain
    has it and the verdict for one value, revoked and not."""
    import json

    from carchain.cli.common import compute_json_value
    from carchain.sdk.chainview import ChainView
    from carchain.sdk.client import Client

    with Client(cli.url) as c:
        view = ChainView(c)
        held = [rvk.get_revocation(view, s) for s in range(1, rvk.get_revocation_count(view) + 1)]
    revoked = next(r for r in held if r.status == "revoked")
    lv = lk.compute_linkage_value(lk.compute_plv(1, S1, 2), lk.compute_plv(2, S2, 2))
    args = ["--linkage-value", lv.hex(), "--period", str(revoked.i_period)]
    doc = json.loads(cli.run("v2x", "revocations", *args, "--json").stdout)
    assert doc["revocations"] == compute_json_value(held) and held
    assert doc["revoked"] is True and doc["linkage_value"] == lv.hex()
    other = ["--linkage-value", "00" * 9, "--period", str(revoked.i_period), "--json"]
    assert json.loads(cli.run("v2x", "revocations", *other).stdout)["revoked"] is False
    plain = json.loads(cli.run("v2x", "revocations", "--json").stdout)
    assert plain["revoked"] is None and plain["revocations"] == doc["revocations"]
