"""A car-to-car transfer proven from the two cars' anchored exchange-log records."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from carchain.crypto.ecdsa import P256SigningKey
from carchain.data.batches import compute_opened_records, decode_signed_header, open_batch_segments
from carchain.data.custody import open_batch_category_keys
from carchain.data.records import V2xTransfer, decode_record
from carchain.errors import InvalidProof, InvalidTransfer
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.record_proofs import build_record_proof
from carchain.sdk.v2x_transfer_proofs import verify_transfer_proofs
from carchain.v2x import transfer as tr
from carchain.v2x.certificates import (
    PSID_CAM,
    LinkageData,
    build_ca_certificate,
    build_pseudonym_certificate,
)
from carchain.v2x.issuance import PseudonymCredential
from tests.dataplane import World
from tests.dataplane import world as dataplane_world  # noqa: F401

DATA = b"relayed: road works ahead, 2 lanes closed"


def pseudonym(ca_key: P256SigningKey, ca_cert: bytes, now_s: int) -> PseudonymCredential:
    key = P256SigningKey.generate()
    lv = LinkageData(1200, P256SigningKey.generate().public_key_compressed[:9])
    cert = build_pseudonym_certificate(
        ca_cert, ca_key, key.public_key_compressed, now_s - 60, 24, [PSID_CAM], lv
    )
    return PseudonymCredential(cert, key, 1200)


def log_and_prove(
    world: World, car_id: str, record: V2xTransfer
) -> tuple[dict[str, Any], dict[str, Any]]:
    car = world.cars[car_id]
    rec = car.recorder()
    now = int(time.time() * 1000) - 60_000
    ups = rec.add_at(record, now) + rec.flush()
    for up in ups:
        world.gclient.submit(up.body)
    world.wait_anchored()
    doc = world.gclient.batch_proof(ups[-1].header_hash)
    signed = decode_signed_header(bytes.fromhex(doc["batch_header"]))
    keys = open_batch_category_keys(signed, world.gclient.key_envelope, car.owner)
    opened = open_batch_segments(signed, world.gclient.ciphertext(ups[-1].header_hash), keys)
    records = compute_opened_records(signed, opened)
    index = next(i for i, r in enumerate(records) if isinstance(decode_record(r), V2xTransfer))
    return build_record_proof(opened, index, doc, world.client)


@pytest.fixture(scope="module")
def exchange(world: World) -> dict[str, Any]:
    world.register("saic:tx-a")
    world.register("saic:tx-b")
    now_s = int(time.time())
    ca_key = P256SigningKey.generate()
    ca_cert = build_ca_certificate(ca_key, [PSID_CAM], now_s - 3600, 24)
    a, b = pseudonym(ca_key, ca_cert, now_s), pseudonym(ca_key, ca_cert, now_s)
    transfer, salt = tr.build_transfer(a, b.certificate, DATA, now_s * 1000)
    receipt = tr.build_receipt(b, transfer, now_s * 1000 + 30)
    sender, header1 = log_and_prove(
        world, "saic:tx-a", tr.build_transfer_record("sender", transfer, receipt)
    )
    receiver, header2 = log_and_prove(
        world, "saic:tx-b", tr.build_transfer_record("receiver", transfer, receipt)
    )
    return {
        "sender": sender,
        "receiver": receiver,
        "trust": (BlockTrust(own_header=header1), BlockTrust(own_header=header2)),
        "salt": salt,
        "t": now_s * 1000,
    }


def test_the_two_proofs_show_a_sent_x_to_b_and_b_acknowledged(exchange: dict[str, Any]) -> None:
    trust = exchange["trust"]
    sender, receiver = (
        json.loads(json.dumps(exchange["sender"])),
        json.loads(json.dumps(exchange["receiver"])),
    )
    proven = verify_transfer_proofs(sender, receiver, *trust, DATA, exchange["salt"])
    assert (proven.sender_vehicle, proven.receiver_vehicle) == ("saic:tx-a", "saic:tx-b")
    assert (proven.sent_ms, proven.received_ms, proven.data_checked) == (
        exchange["t"],
        exchange["t"] + 30,
        True,
    )
    assert DATA.hex() not in json.dumps(sender) + json.dumps(receiver)  # only a commitment


def test_invalid_wrong_data_swapped_roles_or_one_car_twice(exchange: dict[str, Any]) -> None:
    trust = exchange["trust"]
    s, r = exchange["sender"], exchange["receiver"]
    with pytest.raises(InvalidTransfer):
        verify_transfer_proofs(s, r, *trust, DATA + b"?", exchange["salt"])
    with pytest.raises(InvalidTransfer):
        verify_transfer_proofs(r, s, trust[1], trust[0])
    with pytest.raises(InvalidTransfer):
        verify_transfer_proofs(s, s, trust[0], trust[0])


def test_invalid_a_tampered_record_fails_its_proof(exchange: dict[str, Any]) -> None:
    trust = exchange["trust"]
    bad = json.loads(json.dumps(exchange["receiver"]))
    for p in bad["projections"]:
        if p["category"] == "v2x_message":
            p["projection"] = p["projection"][:-2] + (
                "00" if p["projection"][-2:] != "00" else "01"
            )
    with pytest.raises((InvalidProof, InvalidTransfer)):
        verify_transfer_proofs(exchange["sender"], bad, *trust)


def test_carchain_v2x_transfer_command(exchange: dict[str, Any], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from carchain.cli.main import app

    files = {}
    for name, doc in (
        ("sender", exchange["sender"]),
        ("receiver", exchange["receiver"]),
        ("sender-header", exchange["trust"][0].own_header),
        ("receiver-header", exchange["trust"][1].own_header),
    ):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(doc))
    (tmp_path / "data").write_bytes(DATA)
    args = [
        "v2x", "transfer",
        "--sender-bundle", str(files["sender"]), "--sender-header", str(files["sender-header"]),
        "--receiver-bundle", str(files["receiver"]),
        "--receiver-header", str(files["receiver-header"]),
    ]  # fmt: skip
    ok = CliRunner().invoke(
        app,
        [*args, "--data", str(tmp_path / "data"), "--salt", exchange["salt"].hex()],
        env={"COLUMNS": "250"},
    )
    assert ok.exit_code == 0, ok.output
    assert "saic:tx-a sent to saic:tx-b" in ok.output and "data matches" in ok.output
    (tmp_path / "data").write_bytes(DATA + b"x")
    bad = CliRunner().invoke(
        app, [*args, "--data", str(tmp_path / "data"), "--salt", exchange["salt"].hex()]
    )
    assert bad.exit_code != 0 and "invalid_transfer" in bad.output
