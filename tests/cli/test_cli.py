"""The ``carchain`` CLI end to end, as a user drives it: keys, init, a real node
process on a free loopback port, governance, the vehicle lifecycle, proofs, and
the demo."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import pytest
from typer.testing import CliRunner

from carchain.cli.main import app
from carchain.sdk.keystore import load_key
from carchain.sdk.vin import compute_vin_commitment
from tests.conftest import Processes, make_vin

PASS = "a long test passphrase"
CARCHAIN = str(Path(sys.executable).with_name("carchain"))
DEADLINE_S = 60.0
VIN = "LSVAX4181E2100001"  # a Chinese WMI: position 9 is a valid check digit
KEYS = ("saic", "geely", "miit", "police", "owner1", "owner2", "newcomer")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cli:
    keyring: Path
    url: str = ""

    def run(self, *args: str, ok: bool = True, passphrase: str = PASS, stdin: str | None = None):  # type: ignore[no-untyped-def]
        env = {"CARCHAIN_KEYRING": str(self.keyring), "COLUMNS": "250", "NO_COLOR": "1"}
        if passphrase:
            env["CARCHAIN_PASSPHRASE"] = passphrase
        if self.url:
            env["CARCHAIN_NODE"] = self.url
        result = CliRunner().invoke(app, list(args), env=env, input=stdin)
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    def pk(self, name: str) -> str:
        return str(self.run("keys", "show", name).stdout.strip())


def wait_for_node(proc: subprocess.Popen[bytes], url: str) -> None:
    """Poll the node's /status until it answers, failing early if it exits."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/status", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        try:
            proc.wait(timeout=0.05)  # doubles as the pause between polls
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"node exited with {proc.returncode}: {proc.stderr.read()!r}")  # type: ignore[union-attr]
    raise TimeoutError("node did not answer in time")


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """A keyring, an initialised home and a running node process (killed at the end)."""
    root = tmp_path_factory.mktemp("cli")
    c = Cli(root / "keys")
    for name in KEYS:
        out = c.run("keys", "new", name).stdout
        assert "created" in out and name in out
    home = root / "node1"
    port = free_port()
    out = c.run(
        "init",
        "--home",
        str(home),
        "--chain-id",
        "carchain-cli",
        "--member",
        "saic:SAIC Motor:oem:saic",
        "--member",
        "geely:Geely Auto:oem:geely",
        "--member",
        "miit:MIIT:regulator:miit",
        "--member",
        "police:Traffic Police:law_enforcement:police",
        "--threshold",
        "2/3",
        "--port",
        str(port),
    ).stdout
    assert "initialised" in out and "4 members" in out
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


# --- keys ---------------------------------------------------------------------------------


def test_keys_are_encrypted_at_rest(cli: Cli) -> None:
    path = cli.keyring / "saic.json"
    seed = load_key(path, PASS).seed()
    data = path.read_bytes()
    assert seed not in data and seed.hex().encode() not in data
    assert cli.pk("saic") == json.loads(data)["public_key"]
    listing = cli.run("keys", "list").stdout
    for name in KEYS:
        assert name in listing
    assert cli.pk("saic") in listing


def test_keys_new_prompts_with_confirmation(tmp_path: Path) -> None:
    c = Cli(tmp_path / "ring")
    phrase = "a piped phrase"
    res = c.run("keys", "new", "k1", passphrase="", stdin=f"{phrase}\n{phrase}\n")
    assert "created" in res.stdout
    assert load_key(tmp_path / "ring" / "k1.json", phrase).public_key.hex() == c.pk("k1")
    res = c.run("keys", "new", "k2", passphrase="", stdin=f"{phrase}\nanother one!\n", ok=False)
    assert res.exit_code != 0
    assert not (tmp_path / "ring" / "k2.json").exists()


def test_invalid_keys_commands(cli: Cli) -> None:
    assert cli.run("keys", "new", "saic", ok=False).exit_code == 2  # exists
    assert cli.run("keys", "show", "nobody", ok=False).exit_code == 1  # key_missing
    assert cli.run("keys", "new", "../evil", ok=False).exit_code == 2


def test_invalid_wrong_passphrase(cli: Cli) -> None:
    res = cli.run("member", "vote", "1", "--key", "saic", passphrase="wrong passphrase", ok=False)
    assert res.exit_code == 1
    assert "decryption_failed" in res.stderr
    assert "Traceback" not in res.output


# --- init --------------------------------------------------------------------------------------


def test_invalid_init(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "h"
    res = cli.run("init", "--home", str(home), ok=False)
    assert res.exit_code == 2  # no members
    res = cli.run("init", "--home", str(home), "--member", "a:A:oem:nokey", ok=False)
    assert res.exit_code == 1 and "key_missing" in res.stderr and "nokey" in res.stderr
    res = cli.run("init", "--home", str(home), "--member", "a:A:oem", ok=False)
    assert res.exit_code == 2
    res = cli.run("init", "--home", str(home), "--member", "a:A:pirate:saic", ok=False)
    assert res.exit_code == 1 and "unknown_role" in res.stderr
    assert not (home / "config.json").exists()  # a refused init leaves no half home


def test_invalid_init_twice(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "h"
    cli.run("init", "--home", str(home), "--member", "a:A:oem:saic")
    res = cli.run("init", "--home", str(home), "--member", "a:A:oem:saic", ok=False)
    assert res.exit_code == 1 and "already initialised" in res.stderr


def test_invalid_node_start_without_home(cli: Cli, tmp_path: Path) -> None:
    res = cli.run("node", "start", "--home", str(tmp_path / "none"), ok=False)
    assert res.exit_code == 2


# --- governance -----------------------------------------------------------------------------------


def test_member_propose_vote_list(cli: Cli) -> None:
    newcomer = cli.pk("newcomer")
    out = cli.run(
        "member",
        "propose",
        "add",
        "--member-id",
        "ping-an",
        "--name",
        "Ping An",
        "--roles",
        "insurer",
        "--public-key",
        newcomer,
        "--key",
        "miit",
    ).stdout
    m = re.search(r"proposal (\d+) at height \d+: open", out)
    assert m, out
    pid = m.group(1)
    out = cli.run("member", "vote", pid, "--key", "saic", "--yes").stdout
    assert f"proposal {pid}: open (yes 2, no 0)" in out
    res = cli.run("member", "vote", pid, "--key", "saic", "--no", ok=False)
    assert res.exit_code == 1 and "invalid_state" in res.stderr  # double vote
    out = cli.run("member", "vote", pid, "--key", "police").stdout
    assert f"proposal {pid}: executed (yes 3, no 0)" in out
    listing = cli.run("member", "list").stdout
    assert "ping-an" in listing and "Ping An" in listing and "insurer" in listing
    assert listing.count("active") == 5


def test_invalid_member_commands(cli: Cli) -> None:
    res = cli.run("member", "propose", "fly", "--member-id", "x", "--key", "miit", ok=False)
    assert res.exit_code == 2
    res = cli.run(
        "member", "propose", "suspend", "--member-id", "saic", "--key", "owner1", ok=False
    )
    assert res.exit_code == 1 and "unauthorized" in res.stderr
    res = cli.run("member", "vote", "999", "--key", "saic", ok=False)
    assert res.exit_code == 1 and "not_found" in res.stderr


# --- vehicles ------------------------------------------------------------------------------------


def show(cli: Cli, vid: str) -> dict[str, str]:
    out = cli.run("vehicle", "show", vid).stdout
    rows = re.findall(r"│\s*(\w+)\s*│\s*(\S*)\s*│", out)
    return dict(rows)


def test_vehicle_lifecycle(cli: Cli) -> None:
    vkey, vkey2 = cli.pk("newcomer"), cli.pk("owner2")  # any fresh Ed25519 keys
    owner1, owner2 = cli.pk("owner1"), cli.pk("owner2")
    out = cli.run(
        "vehicle",
        "register",
        "--vehicle-id",
        "saic:cli-1",
        "--vin",
        VIN,
        "--public-key",
        vkey,
        "--owner",
        owner1,
        "--model",
        "RX5",
        "--year",
        "2024",
        "--key",
        "saic",
    ).stdout
    assert "registered saic:cli-1" in out
    salt = re.search(r"VIN salt.*: ([0-9a-f]{64})\b", out)
    assert salt, out
    v = show(cli, "saic:cli-1")
    assert (v["oem"], v["owner"], v["status"], v["public_key"]) == ("saic", owner1, "active", vkey)
    assert v["vin_commitment"] == compute_vin_commitment(VIN, bytes.fromhex(salt.group(1))).hex()
    # Whoever holds the VIN and the salt can check the link; a wrong VIN or salt is refused.
    check = ["vehicle", "check-vin", "--vehicle-id", "saic:cli-1"]
    out = cli.run(*check, "--vin", VIN.lower(), "--salt", salt.group(1)).stdout
    assert "VIN matches" in out
    res = cli.run(*check, "--vin", make_vin("other"), "--salt", salt.group(1), ok=False)
    assert res.exit_code == 1 and "vin_commitment_mismatch" in res.stderr
    res = cli.run(*check, "--vin", VIN, "--salt", "00" * 32, ok=False)
    assert res.exit_code == 1 and "vin_commitment_mismatch" in res.stderr

    # Another OEM may not touch it.
    res = cli.run(
        "vehicle", "revoke", "--vehicle-id", "saic:cli-1", "--reason", "x", "--key", "geely",
        ok=False,
    )  # fmt: skip
    assert res.exit_code == 1 and "unauthorized" in res.stderr

    # Transfer with the owner's co-signature; a wrong co-signer is refused.
    res = cli.run(
        "vehicle", "transfer", "--vehicle-id", "saic:cli-1", "--new-owner", owner2,
        "--owner-key", "owner2", "--key", "saic", ok=False,
    )  # fmt: skip
    assert res.exit_code == 1 and "unauthorized" in res.stderr
    out = cli.run(
        "vehicle", "transfer", "--vehicle-id", "saic:cli-1", "--new-owner", owner2,
        "--owner-key", "owner1", "--key", "saic",
    ).stdout  # fmt: skip
    assert "transferred saic:cli-1" in out
    v = show(cli, "saic:cli-1")
    assert (v["owner"], v["transfer_seq"]) == (owner2, "1")

    # Rotation needs the current owner's co-signature: none, or the previous owner's, is refused.
    rotate = ["vehicle", "rotate-key", "--vehicle-id", "saic:cli-1", "--public-key", vkey2]
    assert cli.run(*rotate, "--key", "saic", ok=False).exit_code == 2
    res = cli.run(*rotate, "--owner-key", "owner1", "--key", "saic", ok=False)
    assert res.exit_code == 1 and "invalid_owner_consent" in res.stderr
    assert show(cli, "saic:cli-1")["key_version"] == "1"
    out = cli.run(*rotate, "--owner-key", "owner2", "--key", "saic").stdout
    assert "rotated saic:cli-1" in out
    v = show(cli, "saic:cli-1")
    assert (v["public_key"], v["key_version"]) == (vkey2, "2")
    # The owner can sign the consent on its own and hand it to the OEM.
    vkey3 = cli.pk("miit")
    consent = ["vehicle", "consent-rotate", "--vehicle-id", "saic:cli-1", "--public-key", vkey3]
    sig = cli.run(*consent, "--owner-key", "owner2").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{128}", sig), sig
    rotate3 = ["vehicle", "rotate-key", "--vehicle-id", "saic:cli-1", "--public-key", vkey3]
    out = cli.run(*rotate3, "--owner-signature", sig, "--key", "saic").stdout
    assert "rotated saic:cli-1" in out
    res = cli.run(
        *rotate3, "--owner-signature", sig, "--key", "saic", ok=False
    )  # replayed: the consent was for key version 3, used up (the owner's consent is
    # checked before the key, so a replay is named as such)
    assert res.exit_code == 1 and "invalid_owner_consent" in res.stderr
    history = cli.run("vehicle", "keys", "saic:cli-1").stdout
    rows = re.findall(r"│\s*(\d)\s*│\s*([0-9a-f]{64})\s*│\s*(\d+)\s*│\s*(\w+)\s*│", history)
    assert [(r[0], r[1]) for r in rows] == [("1", vkey), ("2", vkey2), ("3", vkey3)], history
    assert rows[0][3] == rows[1][2] and rows[1][3] == rows[2][2] and rows[2][3] == "current"

    out = cli.run(
        "vehicle", "revoke", "--vehicle-id", "saic:cli-1", "--reason", "scrapped", "--key", "saic"
    ).stdout
    assert "revoked saic:cli-1" in out
    v = show(cli, "saic:cli-1")
    assert (v["status"], v["revoked_reason"]) == ("revoked", "scrapped")
    res = cli.run(
        "vehicle", "revoke", "--vehicle-id", "saic:cli-1", "--reason", "again", "--key", "saic",
        ok=False,
    )  # fmt: skip
    assert res.exit_code == 1 and "invalid_state" in res.stderr


def test_invalid_vehicle_commands(cli: Cli) -> None:
    base = ["vehicle", "register", "--vehicle-id", "saic:bad-1", "--vin", VIN, "--model", "M"]
    res = cli.run(*base, "--public-key", "zz", "--owner", cli.pk("owner1"), "--year", "2024",
                  "--key", "saic", ok=False)  # fmt: skip
    assert res.exit_code == 2
    res = cli.run(*base, "--public-key", cli.pk("owner2"), "--owner", cli.pk("owner1"),
                  "--year", "1800", "--key", "saic", ok=False)  # fmt: skip
    assert res.exit_code == 1 and "invalid_body" in res.stderr
    res = cli.run(*base, "--public-key", cli.pk("owner2"), "--owner", cli.pk("owner1"),
                  "--year", "2024", "--key", "miit", ok=False)  # fmt: skip
    assert res.exit_code == 1 and "unauthorized" in res.stderr
    res = cli.run("vehicle", "show", "nope", ok=False)
    assert res.exit_code == 1 and "not_found" in res.stderr


@pytest.mark.parametrize(
    ("vehicle_id", "vin", "code"),
    [
        ("geely:1", VIN, "foreign_vehicle_namespace"),
        ("saic-1", VIN, "invalid_body"),
        ("saic:1", VIN[:-1], "invalid_vin"),
        ("saic:1", VIN[:8] + "0" + VIN[9:], "invalid_vin"),  # wrong check digit
        ("saic:1", "WVWZZZ1JZ3W38645O", "invalid_vin"),  # an O
    ],
)
def test_invalid_register_id_or_vin(cli: Cli, vehicle_id: str, vin: str, code: str) -> None:
    res = cli.run(
        "vehicle", "register", "--vehicle-id", vehicle_id, "--vin", vin, "--model", "M",
        "--public-key", cli.pk("owner2"), "--owner", cli.pk("owner1"), "--year", "2024",
        "--key", "saic", ok=False,
    )  # fmt: skip
    assert res.exit_code == 1 and code in res.stderr, res.stderr
    assert cli.run("vehicle", "show", vehicle_id, ok=False).exit_code == 1


# --- query --prove ----------------------------------------------------------------------------


def test_query_with_proof(cli: Cli) -> None:
    cli.run(
        "vehicle", "register", "--vehicle-id", "geely:q-1", "--vin", make_vin("q-1"),
        "--public-key", cli.pk("saic"), "--owner", cli.pk("owner1"), "--model", "E8",
        "--year", "2025", "--key", "geely",
    )  # fmt: skip
    out = cli.run("query", "vehicles/v/geely:q-1", "--prove").stdout
    assert "verified" in out
    value = bytes.fromhex(out.strip().splitlines()[-1])
    record = msgspec.msgpack.decode(value)
    assert (record["vehicle_id"], record["oem"]) == ("geely:q-1", "geely")
    plain = cli.run("query", "vehicles/v/geely:q-1").stdout.strip()
    assert plain == value.hex()
    res = cli.run("query", "vehicles/v/nope", "--prove", ok=False)
    assert res.exit_code == 1 and "not_found" in res.stderr
    assert cli.run("query", "novalue", ok=False).exit_code == 2


def test_query_at_a_past_height(cli: Cli) -> None:
    def height() -> int:
        return int(httpx.get(f"{cli.url}/status", timeout=5).json()["height"])

    for name in ("veh-h1", "veh-h2"):
        cli.run("keys", "new", name)
    before = height()
    cli.run(
        "vehicle", "register", "--vehicle-id", "geely:h-1", "--vin", "LB37624S1RH000002",
        "--public-key", cli.pk("veh-h1"), "--owner", cli.pk("owner1"), "--model", "E8",
        "--year", "2025", "--key", "geely",
    )  # fmt: skip
    registered = height()
    cli.run(
        "vehicle", "register", "--vehicle-id", "geely:h-2", "--vin", "LB37624S3RH000003",
        "--public-key", cli.pk("veh-h2"), "--owner", cli.pk("owner1"), "--model", "E8",
        "--year", "2025", "--key", "geely",
    )  # fmt: skip
    assert height() > registered
    out = cli.run("query", "vehicles/v/geely:h-1", "--prove", "--height", str(registered)).stdout
    assert "verified" in out and f" {registered} " in out
    res = cli.run("query", "vehicles/v/geely:h-1", "--height", str(before), ok=False)
    assert res.exit_code == 1 and "not_found" in res.stderr
    res = cli.run("query", "vehicles/v/geely:h-1", "--height", str(height() + 100), ok=False)
    assert res.exit_code == 1 and "height_unavailable" in res.stderr
    assert cli.run("query", "vehicles/v/geely:h-1", "--height", "-1", ok=False).exit_code == 2


def test_invalid_state_versions_at_init(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "h"
    args = ("init", "--home", str(home), "--member", "a:A:oem:saic")
    assert cli.run(*args, "--state-versions", "0", ok=False).exit_code == 2
    assert not (home / "config.json").exists()
    cli.run(*args, "--state-versions", "7")
    assert json.loads((home / "config.json").read_text())["state_versions"] == 7


def test_node_unreachable_is_a_clean_error(cli: Cli) -> None:
    res = cli.run("member", "list", "--node", f"http://127.0.0.1:{free_port()}", ok=False)
    assert res.exit_code == 1 and "node_unavailable" in res.stderr


# --- the demo ---------------------------------------------------------------------------------


def test_demo_50_vehicles(processes: Processes, tmp_path: Path) -> None:
    proc = processes.start(
        [CARCHAIN, "demo", "--classic", "--vehicles", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env={"COLUMNS": "250", "NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )
    out, err = proc.communicate(timeout=120)
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    rows = dict(re.findall(r"│ ([^│]+?)\s+│ ([^│]+?)\s+│", text))
    assert rows["members"] == "10"  # eight founders + the insurer and the map provider
    assert rows["vehicles registered"] == "50"
    assert rows["transfers / key rotations / revocations"] == "20 / 10 / 10"
    blocks, txs = int(rows["blocks"]), int(rows["transactions"])
    # 1 proposal + 5 votes + 50 registrations + 40 life events + 1 refused revocation.
    assert txs >= 97 and blocks >= 2
    proof = re.fullmatch(r"vehicle (\S+) verified against block (\d+)'s app hash", rows["proof"])
    assert proof, rows["proof"]
    assert int(proof.group(2)) <= blocks
    assert re.fullmatch(r"[0-9a-f]{64}", rows["app hash"])
    assert "proposal 1 to admit Ping An Insurance → executed" in text
    assert "refused (unauthorized)" in text
    # then a lawful-access case end to end (sim/case_demo.py)
    assert rows["shares released by the custodian services"] == "12"
    assert rows["receipts signed by the officer"] == "2"


def test_damaged_key_file_is_reported_not_a_crash(tmp_path: Path) -> None:
    c = Cli(tmp_path / "ring")
    c.run("keys", "new", "good")
    (tmp_path / "ring" / "bad.json").write_text("{not json")
    listing = c.run("keys", "list").stdout
    assert "good" in listing and "unreadable" in listing
    res = c.run("keys", "show", "bad", ok=False)
    assert res.exit_code == 1 and "decryption_failed" in res.stderr
    res = c.run("init", "--home", str(tmp_path / "h"), "--member", "a:A:oem:bad", ok=False)
    assert res.exit_code == 1 and "decryption_failed" in res.stderr
