"""Record proofs across a vehicle key rotation (issue 7, item 17).

A batch is checked against the key the vehicle had during the batch's time
range, taken from the proven key history: a record signed before a rotation
still proves afterwards, and a batch signed by a key rotated in after its time
range (an OEM that swapped in a key and back-dated "vehicle" data) is reported.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from typing import Any

import pytest

from carchain.core.vehicles import KeyPeriod, RotateVehicleKey, compute_key_period_key
from carchain.data.batches import BatchHeader, decode_signed_header, open_batch_segments
from carchain.data.custody import open_batch_category_keys
from carchain.data.segments import SegmentHeader
from carchain.errors import InvalidProof, KeyNotValidForBatch
from carchain.gateway import ingest
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.record_proofs import (
    build_record_proof,
    validate_key_period_for_batch,
    verify_record_proof,
)
from carchain.sdk.transactions import sign_rotation_consent
from carchain.sdk.vehicle import Upload
from tests.conftest import seeded_key
from tests.dataplane import Car, World, make_records

Bundle = tuple[dict[str, Any], dict[str, Any]]


@dataclass
class Rotated:
    """Three anchored batches of one car around a key rotation at ``since_ms``."""

    before: Bundle  # signed by key 1, recorded before the rotation
    after: Bundle  # signed by key 2, recorded after it
    backdated: Bundle  # signed by key 2, recorded (it claims) before the rotation
    since_ms: int


def _uploads(car: Car, start_ms: int, skip: int = 0) -> list[Upload]:
    rec = car.recorder(window_ms=10**9)
    out: list[Upload] = []
    for _ in range(skip + 1):  # earlier batches take the low sequence numbers
        for t, r in make_records(5, start_ms):
            out += rec.add_at(r, t)
        out += rec.flush()
    return out[skip:]


def _prove(world: World, car: Car, up: Upload) -> Bundle:
    doc = world.gclient.batch_proof(up.header_hash)
    signed = decode_signed_header(bytes.fromhex(doc["batch_header"]))
    keys = open_batch_category_keys(signed, world.gclient.key_envelope, car.owner)
    opened = open_batch_segments(signed, world.gclient.ciphertext(up.header_hash), keys)
    return build_record_proof(opened, 0, doc, world.client)


@pytest.fixture(scope="module")
def rotated(world: World) -> Rotated:
    car = world.register("saic:car-rot")
    now = int(time.time() * 1000)
    (before,) = _uploads(car, now - 120_000)
    world.gclient.submit(before.body)
    world.wait_anchored()

    new_key = seeded_key("vehicle/saic:car-rot/2")
    chain_id = str(world.client.status()["chain_id"])
    sig = sign_rotation_consent(chain_id, car.owner, car.vehicle_id, new_key.public_key, 2, 0)
    world.send(RotateVehicleKey(car.vehicle_id, new_key.public_key, sig))
    since_ms = int(world.client.vehicle(car.vehicle_id)["key_since_ms"])
    car2 = replace(car, key=new_key)
    (backdated,) = _uploads(car2, since_ms - 90_000, skip=1)
    (after,) = _uploads(car2, since_ms + 1, skip=2)
    world.gclient.submit(after.body)
    with pytest.MonkeyPatch.context() as mp:
        # An honest gateway refuses the backdated batch; a dishonest one (this check off)
        # anchors it anyway, and ``verify`` must still catch it.
        mp.setattr(ingest, "validate_key_since", lambda signed, vehicle: None)
        world.gclient.submit(backdated.body)
    world.wait_anchored()
    return Rotated(
        _prove(world, car, before),
        _prove(world, car2, after),
        _prove(world, car2, backdated),
        since_ms,
    )


def test_record_proof_across_a_rotation_verifies(rotated: Rotated) -> None:
    """Proven after the rotation, a record signed by the old key checks against key 1."""
    bundle, header = rotated.before
    v = verify_record_proof(bundle, BlockTrust(own_header=header))
    assert (v.vehicle_id, v.key_version) == ("saic:car-rot", 1)
    bundle, header = rotated.after
    assert verify_record_proof(bundle, BlockTrust(own_header=header)).key_version == 2


def test_invalid_batch_signed_by_key_rotated_in_after_its_time_range(rotated: Rotated) -> None:
    bundle, header = rotated.backdated
    with pytest.raises(KeyNotValidForBatch) as exc:
        verify_record_proof(bundle, BlockTrust(own_header=header))
    assert "rotated in at" in exc.value.message
    assert str(rotated.since_ms) in exc.value.message
    assert exc.value.fields["key_version"] == 2


def test_invalid_key_history_tampered(rotated: Rotated) -> None:
    bundle, header = copy.deepcopy(rotated.before)
    state = bundle["state"]
    state["key_period_value"] = state["key_period_value"][:-2] + "00"
    with pytest.raises(InvalidProof, match="key history is not in the app hash"):
        verify_record_proof(bundle, BlockTrust(own_header=header))
    # Without its proof, or with another version's key record, the key history does not count.
    bundle, header = copy.deepcopy(rotated.before)
    del bundle["state"]["key_period_proof"]
    with pytest.raises(InvalidProof, match="key_period_proof"):
        verify_record_proof(bundle, BlockTrust(own_header=header))
    bundle, header = copy.deepcopy(rotated.before)
    bundle["state"]["key_period_key"] = compute_key_period_key("saic:car-rot", 2).hex()
    with pytest.raises(InvalidProof, match="key history"):
        verify_record_proof(bundle, BlockTrust(own_header=header))
    # A bundle built before this change (no key history) is refused with a clear line.
    bundle, header = copy.deepcopy(rotated.before)
    for name in ("key_period_key", "key_period_value", "key_period_proof"):
        del bundle["state"][name]
    with pytest.raises(InvalidProof, match="key_period_key"):
        verify_record_proof(bundle, BlockTrust(own_header=header))


def _header(start_ms: int, end_ms: int) -> BatchHeader:
    segment = SegmentHeader("motion", 1, b"r" * 32, b"n" * 12, 0, 16, b"c" * 32, b"k" * 32)
    return BatchHeader(2, "saic:1", 0, 0, start_ms, end_ms, 1, [segment], b"c" * 32, 16)


@pytest.mark.parametrize(
    ("period", "start", "end", "reason"),
    [
        (KeyPeriod(b"k" * 32, 2, 1_000, 0), 100, 999, "rotated in at 1000 ms"),
        (KeyPeriod(b"k" * 32, 1, 0, 500), 500, 900, "rotated out at 500 ms"),
        (KeyPeriod(b"k" * 32, 2, 100, 500), 600, 700, "rotated out at 500 ms"),
    ],
)
def test_invalid_key_period_for_batch(period: KeyPeriod, start: int, end: int, reason: str) -> None:
    with pytest.raises(KeyNotValidForBatch, match=reason):
        validate_key_period_for_batch(_header(start, end), period)


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        (KeyPeriod(b"k" * 32, 2, 1_000, 0), 100, 1_000),  # rotated in during the batch
        (KeyPeriod(b"k" * 32, 1, 5_000, 0), 100, 200),  # the first key covers the factory
        (KeyPeriod(b"k" * 32, 1, 0, 500), 499, 900),  # rotated out during the batch
        (KeyPeriod(b"k" * 32, 3, 100, 500), 100, 499),
    ],
)
def test_key_period_covering_batch(period: KeyPeriod, start: int, end: int) -> None:
    validate_key_period_for_batch(_header(start, end), period)
