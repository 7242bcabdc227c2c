"""The fleet's sealing in worker processes: every car's records in its batches, in car
order, and no batch sealed for an epoch whose escrow committee was not read."""

from __future__ import annotations

import pytest

from carchain.data.batches import compute_epoch, decode_signed_header, decode_submitted
from carchain.errors import CarchainError
from carchain.sim.fleet_plane import derive_custodian_key
from carchain.sim.fleet_sealing import (
    KnownEscrow,
    SealJob,
    encode_records,
    open_sealers,
    read_escrow,
    seal_fleet,
    seal_job,
)
from carchain.sim.phases import Phases
from carchain.sim.world import FleetParams, FleetWorld, simulate_fleet

OEMS = ("saic", "geely", "vw-china")


@pytest.fixture(scope="module")
def world() -> FleetWorld:
    return simulate_fleet(FleetParams(vehicles=12, minutes=6, seed=5), Phases())


class _NoCommittee:
    def __init__(self) -> None:
        self.asked: list[int] = []

    def get_escrow_seats(self, epoch: int) -> None:
        self.asked.append(epoch)


def test_read_escrow_asks_each_epoch_of_the_records_once(world: FleetWorld) -> None:
    source = _NoCommittee()
    known = read_escrow(source, world.records)
    epochs = sorted({compute_epoch(t) for car in world.records for t, _ in car})
    assert source.asked == epochs
    assert known.get_escrow_seats(epochs[0]) is None


def test_an_epoch_not_read_is_refused() -> None:
    with pytest.raises(CarchainError, match="not read"):
        KnownEscrow({1: None}).get_escrow_seats(2)


def test_workers_seal_every_car_in_order(world: FleetWorld) -> None:
    custodians = {o: derive_custodian_key(5, o).public_key for o in OEMS}
    escrow = {o: read_escrow(_NoCommittee(), world.records) for o in OEMS}
    with open_sealers() as pool:
        sealed = list(seal_fleet(pool, 5, world.cars, world.records, custodians, escrow))
    assert [i for i, _ in sealed] == list(range(len(world.cars)))
    for (_, ups), car, records in zip(sealed, world.cars, world.records, strict=True):
        assert sum(u.record_count for u in ups) == len(records)
        for u in ups:
            header = decode_signed_header(decode_submitted(u.body).header).header
            assert header.vehicle_id == car.vehicle_id == u.vehicle_id
    one = seal_job(
        SealJob(5, [world.cars[0]], encode_records([world.records[0]]), custodians, escrow)
    )
    assert [u.record_count for u in one[0]] == [u.record_count for u in sealed[0][1]]


def test_a_car_whose_epoch_was_not_read_fails(world: FleetWorld) -> None:
    custodians = {o: derive_custodian_key(5, o).public_key for o in OEMS}
    escrow = {o: KnownEscrow({}) for o in OEMS}
    with pytest.raises(CarchainError, match="not read"):
        seal_job(
            SealJob(5, [world.cars[0]], encode_records([world.records[0]]), custodians, escrow)
        )


def test_records_reach_the_workers_unchanged(world: FleetWorld) -> None:
    from carchain.sim.fleet_sealing import _records_decoder

    assert _records_decoder.decode(encode_records(world.records)) == world.records


def test_a_failing_block_drops_the_sealing_jobs_not_started() -> None:
    futures = []
    with pytest.raises(RuntimeError, match="a gateway failed"), open_sealers() as pool:
        futures = [pool.submit(sum, range(200_000)) for _ in range(400)]
        raise RuntimeError("a gateway failed")
    assert all(f.done() for f in futures)
    assert any(f.cancelled() for f in futures)  # not all 400 ran to the end
