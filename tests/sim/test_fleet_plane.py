"""``run_sim`` end to end on an embedded node: the cars are registered on chain, their
batches go through their own OEM's gateway (each in a process of its own) and are
anchored (one anchor per gateway per block), and each crash car's EDR event is in an
anchored batch of its own."""

from __future__ import annotations

import os
from pathlib import Path

from carchain.core.vehicles import get_vehicle
from carchain.sdk.chainview import ChainView
from carchain.sdk.gateway_client import GatewayClient
from carchain.sim.fleet import derive_owner_key, derive_vehicle_key
from carchain.sim.fleet_plane import FleetPlane
from carchain.sim.fleet_run import run_sim
from carchain.sim.world import FleetParams, FleetWorld


def test_fleet_goes_through_gateways_and_anchors(tmp_path: Path) -> None:
    seen: dict[str, bool] = {}

    def check(world: FleetWorld, plane: FleetPlane) -> None:
        view = ChainView(plane.client)
        for car in world.cars:
            vehicle = get_vehicle(view, car.vehicle_id)
            assert vehicle.public_key == derive_vehicle_key(world.params.seed, car).public_key
        for index in (world.plan.a.index, world.plan.b.index):
            car = world.cars[index]
            owner = derive_owner_key(world.params.seed, car)
            with GatewayClient(plane.gateways[car.oem].url, signer=owner) as gc:
                docs = gc.batches(car.vehicle_id, anchored_only=True)
            crash = [d for d in docs if "crash_pulse" in d["categories"]]
            assert len(crash) == 1
            assert len(docs) > 1  # its other records are in other batches
        for oem, gateway in plane.gateways.items():  # each in a process of its own
            assert gateway.process.pid != os.getpid() and gateway.process.is_alive()
            with GatewayClient(gateway.url) as gc:
                status = gc.status()
            # every batch the cars (in the sealing workers) sent is stored and anchored
            assert status["batches"] == status["anchored"] == plane.stats.per_oem_batches[oem]
        seen["checked"] = True

    result = run_sim(None, FleetParams(vehicles=24, minutes=6, seed=3), tmp_path, check)
    assert seen.get("checked")
    assert result.plane.batches == sum(result.plane.per_oem_batches.values()) > 24
    assert set(result.plane.per_oem_batches) <= {"saic", "geely", "vw-china"}
    assert result.plane.anchor_txs >= 3
    assert result.plane.max_anchors_per_gateway_block == 1
    assert result.plane.records == result.world.record_count
    assert set(result.timings) >= {"routes", "V2X radio", "sealing + uploading batches"}
