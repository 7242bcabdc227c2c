"""``carchain car`` as a user drives it, against a live solo node and SAIC's gateway:
init, key, drive (restart continues the counter), send, status; each failure one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from carchain.cli.main import app
from carchain.core.anchors import get_anchor
from carchain.core.vehicles import RegisterVehicle
from carchain.gateway.app import create_gateway_app
from carchain.sdk.car_home import STATE_FILE, open_car_home
from carchain.sdk.chainview import ChainView
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.vin import compute_vin_commitment
from carchain.sim.embedded import find_free_port
from tests.car.gateways import ProofRewriter, change, garble_anchor_numbers, serving
from tests.conftest import VIN_SALT, make_vin, seeded_key
from tests.dataplane import World, wait_for, world

__all__ = ["world"]
PASS = "a long car passphrase"
CUSTODIAN = seeded_key("custodian/saic").public_key.hex()


def car(*args: str, passphrase: str = PASS, ok: bool = True) -> Result:
    env = {"COLUMNS": "250", "NO_COLOR": "1", "CARCHAIN_PASSPHRASE": passphrase}
    result = CliRunner().invoke(app, ["car", *args], env=env)
    if ok:
        assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def init(world: World, home: Path, vid: str, gateway: str = "") -> str:
    car(
        "init", "--home", str(home), "--vehicle", vid, "--gateway", gateway or world.gateway.url,
        "--node", world.client.url, "--custodian", CUSTODIAN,
    )  # fmt: skip
    return str(car("key", "--home", str(home)).stdout.strip())


def register(world: World, vid: str, public_key: str) -> None:
    world.send(
        RegisterVehicle(
            vid,
            compute_vin_commitment(make_vin(vid), VIN_SALT),
            bytes.fromhex(public_key),
            "RX5",
            2024,
            seeded_key(f"owner/{vid}").public_key,
        )
    )


def status_json(home: Path) -> dict[str, Any]:
    doc = json.loads(car("status", "--home", str(home), "--json").stdout)
    assert isinstance(doc, dict)
    return doc


def one_error_line(result: Result, code: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error {code}:"), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_car_init_drive_send_status(world: World, tmp_path: Path) -> None:
    home = tmp_path / "car"
    key = init(world, home, "saic:cli-car")
    assert len(bytes.fromhex(key)) == 32
    register(world, "saic:cli-car", key)
    out = car("drive", "--home", str(home), "--minutes", "6", "--v2x").stdout
    assert "drove 6 min" in out and "batches sealed" in out
    car("drive", "--home", str(home), "--minutes", "2", "--edr")  # a restart, the same day
    doc = status_json(home)
    seqs = [b["seq"] for b in doc["batches"]]
    assert seqs == list(range(len(seqs))) and len(seqs) >= 3  # the counter continued
    assert doc["counts"] == {"pending": len(seqs), "sent": 0, "anchored": 0}
    sent = car("send", "--home", str(home)).stdout
    assert f"sent {len(seqs)} batches" in sent
    assert "nothing to send" in car("send", "--home", str(home)).stdout
    world.wait_anchored()
    wait_for(lambda: status_json(home)["counts"]["anchored"] == len(seqs), 30, "anchored")
    table = car("status", "--home", str(home)).stdout
    assert f"saic:cli-car: 0 pending, 0 sent, {len(seqs)} anchored" in table
    for b in status_json(home)["batches"]:
        assert b["header_hash"] in table and b["anchor_height"] > 0  # in full


def test_invalid_car_commands_are_one_line(world: World, tmp_path: Path) -> None:
    one_error_line(car("status", "--home", str(tmp_path / "none"), ok=False), "car_home_not_found")
    home = tmp_path / "car"
    init(world, home, "saic:cli-bad")
    again = car("init", "--home", str(home), "--vehicle", "saic:cli-bad",
        "--gateway", world.gateway.url, "--custodian", CUSTODIAN, ok=False)  # fmt: skip
    line = one_error_line(again, "car_home_exists")
    assert str(home) in line
    one_error_line(
        car("status", "--home", str(home), passphrase="wrong passphrase", ok=False), "car_locked"
    )
    line = one_error_line(car("drive", "--home", str(home), ok=False), "car_not_registered")
    assert car("key", "--home", str(home)).stdout.strip() in line  # what to register
    one_error_line(
        car("init", "--home", str(tmp_path / "x"), "--vehicle", "nocolon", "--gateway",
            world.gateway.url, "--custodian", CUSTODIAN, ok=False), "invalid_car_config",
    )  # fmt: skip
    assert car("drive", "--home", str(home), "--minutes", "0", ok=False).exit_code == 2


def test_invalid_unreachable_gateway_and_tampered_state(world: World, tmp_path: Path) -> None:
    home = tmp_path / "car"
    dead = f"http://127.0.0.1:{find_free_port()}"
    register(world, "saic:cli-down", init(world, home, "saic:cli-down", dead))
    car("drive", "--home", str(home), "--minutes", "1")
    line = one_error_line(
        car("send", "--home", str(home), "--attempts", "2", ok=False), "gateway_unreachable"
    )
    assert dead in line and "attempts=2" in line
    assert status_json(home)["counts"]["pending"] >= 1  # nothing lost
    state = home / STATE_FILE
    good = state.read_bytes()
    state.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    for command in ("status", "drive", "send"):
        one_error_line(car(command, "--home", str(home), ok=False), "car_state_corrupted")
    assert state.read_bytes() != good  # left as it is for the user to restore
    state.write_bytes(good)
    assert status_json(home)["counts"]["pending"] >= 1


def test_invalid_init_options_that_only_look_right_are_one_line(
    world: World, tmp_path: Path
) -> None:
    def init_with(vehicle: str, gateway: str, passphrase: str = PASS) -> Result:
        return car("init", "--home", str(tmp_path / "x"), "--vehicle", vehicle, "--gateway",
            gateway, "--custodian", CUSTODIAN, passphrase=passphrase, ok=False)  # fmt: skip

    one_error_line(init_with("saic:ok", world.gateway.url, "short pass"), "passphrase_too_short")
    one_error_line(init_with("saic:ok\n", world.gateway.url), "invalid_car_config")
    for url in ("http://[::1", "http://127.0.0.1:port", world.gateway.url + "\n"):
        one_error_line(init_with("saic:ok", url), "invalid_car_config")
    assert not (tmp_path / "x").exists()
    home = tmp_path / "car"
    init(world, home, "saic:cli-perm")
    home.chmod(0o777)
    line = one_error_line(car("status", "--home", str(home), ok=False), "invalid_car_config")
    assert "writable by group or others" in line


def test_invalid_status_against_a_lying_gateway(world: World, tmp_path: Path) -> None:
    port = find_free_port()
    liar = ProofRewriter(create_gateway_app(world.gateway.gateway))
    home = tmp_path / "car"
    with serving(liar, port):
        register(
            world, "saic:cli-liar", init(world, home, "saic:cli-liar", f"http://127.0.0.1:{port}")
        )
        car("drive", "--home", str(home), "--minutes", "2")
        car("send", "--home", str(home))
        world.wait_anchored()
        liar.rewrite = change("anchor.tx", "ff" * 40)
        one_error_line(car("status", "--home", str(home), ok=False), "invalid_proof")
        liar.rewrite = garble_anchor_numbers
        doc = status_json(home)
    assert doc["counts"]["anchored"] == len(doc["batches"]) > 0
    car_key = open_car_home(home, PASS).key
    view = ChainView(world.client)
    with GatewayClient(world.gateway.url, signer=car_key) as gc:
        for b in doc["batches"]:
            honest = gc.batch_proof(bytes.fromhex(b["header_hash"]))["anchor"]
            assert (b["anchor_seq"], b["anchor_height"]) == (honest["seq"], honest["height"])
            assert get_anchor(view, "saic", b["anchor_seq"]).height == b["anchor_height"]


@pytest.fixture(autouse=True)
def _gateway_reads_chain_each_batch(world: World) -> None:
    """The module's gateway syncs its registry view after every upload arrives (strict)."""
    world.gateway.gateway.registry.strict = True
