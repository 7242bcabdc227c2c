"""Record proofs: record -> batch root -> gateway root -> anchor tx -> app hash, offline."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from carchain.errors import InvalidProof
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.client import Client
from carchain.sdk.record_proofs import build_record_proof, verify_record_proof
from tests.dataplane import World, anchored_edr

Bundle = tuple[dict[str, Any], dict[str, Any]]


class BlockAfterEveryProof(Client):
    """A client after whose every proved read another block lands (a busy chain)."""

    def __init__(self, world: World) -> None:
        super().__init__(world.node.url)
        self.world = world
        self.blocks = 0

    def query(self, store: str, key: bytes, prove: bool = False, height: int = 0) -> Any:
        doc = super().query(store, key, prove, height)
        if prove:
            self.blocks += 1
            self.world.register(f"saic:busy-{self.blocks}")
        return doc


def test_both_state_proofs_are_read_at_one_height_while_blocks_land(world: World) -> None:
    world.register("saic:car-busy")
    records, index, doc = anchored_edr(world, "saic:car-busy")
    with BlockAfterEveryProof(world) as client:
        bundle, header = build_record_proof(records, index, doc, client)
        assert client.blocks == 3  # a block landed between each two reads
    v = verify_record_proof(json.loads(json.dumps(bundle)), BlockTrust(own_header=header))
    assert v.kind == "edr" and v.height == header["header"]["height"]


def fails(bundle: dict[str, Any], header: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify_record_proof(bundle, BlockTrust(own_header=header))
    assert reason in exc.value.message, exc.value.message


def test_record_verifies_end_to_end(proven: Bundle) -> None:
    bundle, header = proven
    v = verify_record_proof(json.loads(json.dumps(bundle)), BlockTrust(own_header=header))
    assert v.kind == "edr" and v.vehicle_id == "saic:car-1" and v.oem == "saic"
    assert v.record["max_delta_v_long_kmh"] == -12.5
    assert v.height == header["header"]["height"] and v.anchor_height <= v.height
    assert v.engine == "solo" and v.block_hash.hex() == header["hash"]
    assert v.trusted_by and "your own copy" in v.trusted_by[0]


def _projection(bundle: dict[str, Any], category: str) -> dict[str, Any]:
    return next(p for p in bundle["projections"] if p["category"] == category)


def test_every_projection_of_the_record_is_proven(proven: Bundle) -> None:
    bundle, header = proven
    cats = [p["category"] for p in bundle["projections"]]
    assert cats == sorted(cats) and {"crash_pulse", "time", "motion"} <= set(cats)
    v = verify_record_proof(bundle, BlockTrust(own_header=header))
    assert v.categories == tuple(cats) and v.record_index == bundle["record_index"]
    # A subset proves the record's fields of that subset only.
    part = copy.deepcopy(bundle)
    part["projections"] = [_projection(bundle, "crash_pulse")]
    v = verify_record_proof(part, BlockTrust(own_header=header))
    assert v.record["max_delta_v_long_kmh"] == -12.5 and v.record["event_time_ms"] is None
    assert v.categories == ("crash_pulse",)


def test_invalid_tampered_projection(proven: Bundle) -> None:
    bundle, header = copy.deepcopy(proven)
    p = _projection(bundle, "crash_pulse")
    proj = msgspec.msgpack.decode(bytes.fromhex(p["projection"]))
    proj[2]["max_delta_v_long_kmh"] = -2.0
    p["projection"] = msgspec.msgpack.encode(proj).hex()
    fails(bundle, header, "record is not in the batch")
    # The same projection claimed as another record of the batch.
    bundle, header = copy.deepcopy(proven)
    bundle["record_index"] = 0
    fails(bundle, header, "record is not in the batch")
    # A projection moved to another category's segment.
    bundle, header = copy.deepcopy(proven)
    _projection(bundle, "crash_pulse")["category"] = "diagnostics"
    fails(bundle, header, "record is not in the batch")
    # Another record kind's projection.
    bundle, header = copy.deepcopy(proven)
    p = _projection(bundle, "time")
    p["projection"] = msgspec.msgpack.encode(
        ["telemetry", bundle["record_index"], {"time_ms": 1}]
    ).hex()
    fails(bundle, header, "record is not in the batch")


def test_invalid_tampered_salt(proven: Bundle) -> None:
    bundle, header = copy.deepcopy(proven)
    p = _projection(bundle, "crash_pulse")
    p["salt"] = "00" * 16
    fails(bundle, header, "record is not in the batch")
    p["salt"] = "00" * 15
    fails(bundle, header, "record is not in the batch")
    # Without a salt, the bare projection is not a leaf of the tree either.
    p["salt"] = ""
    fails(bundle, header, "record is not in the batch")


def test_invalid_tampered_projection_proof(proven: Bundle) -> None:
    bundle, header = copy.deepcopy(proven)
    _projection(bundle, "time")["proof"]["aunts"][0] = "00" * 32
    fails(bundle, header, "record is not in the batch")
    bundle, header = copy.deepcopy(proven)
    _projection(bundle, "time")["proof"]["index"] = 0
    fails(bundle, header, "record is not in the batch")
    bundle, header = copy.deepcopy(proven)
    _projection(bundle, "crash_pulse")["proof"]["total"] = 2
    fails(bundle, header, "record is not in the batch")


def test_invalid_tampered_batch_header(proven: Bundle) -> None:
    bundle, header = copy.deepcopy(proven)
    raw = bytearray(bytes.fromhex(bundle["batch_header"]))
    raw[-1] ^= 1  # the signature's last byte
    bundle["batch_header"] = raw.hex()
    fails(bundle, header, "batch header is not signed by the vehicle's key")


def test_invalid_tampered_batch_proof(proven: Bundle) -> None:
    bundle, header = copy.deepcopy(proven)
    bundle["batch_proof"]["leaf_hash"] = "11" * 32
    fails(bundle, header, "batch header is not in the gateway root")
    bundle, header = copy.deepcopy(proven)
    bundle["batch_proof"]["aunts"] = ["22" * 32]
    bundle["batch_proof"]["total"] = 2
    fails(bundle, header, "gateway root")


def test_invalid_tampered_anchor_tx(proven: Bundle) -> None:
    bundle, header = copy.deepcopy(proven)
    raw = bytearray(bytes.fromhex(bundle["anchor_tx"]))
    raw[-1] ^= 1
    bundle["anchor_tx"] = raw.hex()
    fails(bundle, header, "anchor transaction invalid")


def test_invalid_tampered_state_proofs(proven: Bundle) -> None:
    bundle, header = copy.deepcopy(proven)
    bundle["state"]["anchor_value"] = bundle["state"]["anchor_value"][:-2] + "00"
    fails(bundle, header, "anchor is not in the app hash")
    bundle, header = copy.deepcopy(proven)
    bundle["state"]["vehicle_value"] = bundle["state"]["vehicle_value"][:-2] + "00"
    fails(bundle, header, "vehicle registration is not in the app hash")


def test_invalid_wrong_block_header(proven: Bundle) -> None:
    bundle, header = copy.deepcopy(proven)
    header["header"]["app_hash"] = "33" * 32
    fails(bundle, header, "differs from your copy")
    bundle, header = copy.deepcopy(proven)
    bundle["state"]["height"] += 1
    fails(bundle, header, "another height")
    fails({"format": "x"}, proven[1], "bundle format")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carchain.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_carchain_verify_command(proven: Bundle, tmp_path: Path) -> None:
    bundle, header = proven
    b, h = tmp_path / "bundle.json", tmp_path / "header.json"
    b.write_text(json.dumps(bundle))
    h.write_text(json.dumps(header))
    ok = run_cli("verify", str(b), "--header", str(h))
    assert ok.returncode == 0, ok.stderr
    assert "verified edr record of vehicle saic:car-1" in ok.stdout
    bad = copy.deepcopy(bundle)
    bad["batch_proof"]["leaf_hash"] = "11" * 32
    b.write_text(json.dumps(bad))
    refused = run_cli("verify", str(b), "--header", str(h))
    assert refused.returncode == 1
    assert "invalid_proof" in refused.stderr and "gateway root" in refused.stderr


def test_requester_with_released_segments_proves_its_part(world: World) -> None:
    """A grantee holding only the crash_pulse segment proves that part of the EDR record."""
    world.register("saic:car-grantee")
    opened, index, doc = anchored_edr(world, "saic:car-grantee")
    part = {"crash_pulse": opened["crash_pulse"]}
    bundle, header = build_record_proof(part, index, doc, world.client)
    v = verify_record_proof(bundle, BlockTrust(own_header=header))
    assert v.categories == ("crash_pulse",) and v.record["max_delta_v_long_kmh"] == -12.5
    assert v.record["event_time_ms"] is None and v.record["engine_rpm"] is None
    # A record the released segment does not hold cannot be proven with it.
    with pytest.raises(InvalidProof):
        build_record_proof(part, 0, doc, world.client)
