"""The story's world on a fresh 4-validator localnet (``run_story_world(network=True)``),
checked from the chain itself: every car registered, every owner's grants on chain,
at most one anchor per gateway per block, the four validators at one app hash, block
time advanced by waiting, and every process gone afterwards (by pid), also when the
story fails."""

from __future__ import annotations

import base64
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest

from carchain.core.vehicles import get_vehicle
from carchain.network import localnet, processes
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sim.fleet import derive_vehicle_key
from carchain.sim.fleet_consents import compute_grants
from carchain.sim.story_world import NETWORK_NOTICE_DELAY_MS, StoryWorld, run_story_world
from carchain.sim.world import FleetParams
from tests.network.conftest import get_header_app_hash, get_height, require_network_setup, wait_for

pytestmark = pytest.mark.network
PARAMS = FleetParams(vehicles=30, minutes=10, seed=7)


@dataclass
class Seen:
    """What the story saw on the chain, for the assertions after the run."""

    pids: dict[Path, int] = field(default_factory=dict)
    anchors_per_signer_block: list[int] = field(default_factory=list)
    anchor_txs: int = 0
    app_hashes: dict[str, str] = field(default_factory=dict)
    grants: int = 0


def record_pids(sw: StoryWorld, seen: Seen) -> None:
    """Record the pid of every process of the localnet (two per validator)."""
    layout = sw.chain.network
    assert layout is not None and len(layout.nodes) == 4
    for node in layout.nodes:
        for path in localnet.get_pid_paths(layout, node):
            pid = processes.read_pid(path)
            assert pid is not None, f"{path} names no running process"
            seen.pids[path] = pid


def check_registry_and_consents(sw: StoryWorld, seen: Seen) -> None:
    """Each car is on chain with its key; each owner's grants are there, in force."""
    view = ChainView(sw.client)
    p = sw.world.params
    for car in sw.world.cars:
        vehicle = get_vehicle(view, car.vehicle_id)
        assert vehicle.public_key == derive_vehicle_key(p.seed, car).public_key
        want = [g for ch in car.consents for g in compute_grants(car, ch, p.start_ms, p.end_ms)]
        got = sw.client.consents(car.vehicle_id)["grants"]
        assert len(got) == len(want)
        assert {(g["purpose"], tuple(g["categories"])) for g in got} == {
            (g.purpose, tuple(g.categories)) for g in want
        }
        assert all(g["in_force"] for g in got)
        seen.grants += len(got)
    assert seen.grants == sum(sw.consents.values()) > 0  # what the setup sent


def check_anchors(sw: StoryWorld, seen: Seen) -> None:
    """Read every block from another validator's API: anchors per signer per block."""
    layout = sw.chain.network
    assert layout is not None
    with Client(layout.nodes[3].api_url) as other:
        for h in range(1, int(other.status()["height"]) + 1):
            per_signer: Counter[bytes] = Counter()
            for raw in other.block(h)["txs"]:
                env = msgspec.msgpack.decode(base64.b64decode(raw))
                if env[4] == "anchor.submit":
                    per_signer[bytes(env[2])] += 1
            seen.anchors_per_signer_block.extend(per_signer.values())
            seen.anchor_txs += sum(per_signer.values())


def check_app_hashes(sw: StoryWorld, seen: Seen) -> None:
    """All four validators' headers at one common height carry one app hash."""
    layout = sw.chain.network
    assert layout is not None
    height = max(get_height(n) for n in layout.nodes)
    for node in layout.nodes:
        wait_for(lambda n=node: get_height(n) >= height, 60, f"{node.name} at {height}")
    seen.app_hashes = {n.name: get_header_app_hash(n, height) for n in layout.nodes}


def check_clock(sw: StoryWorld) -> None:
    """On the network the block clock is real: advancing it waits for a later block."""
    assert sw.is_network and sw.notice_delay_ms == NETWORK_NOTICE_DELAY_MS
    target = int(time.time() * 1000) + 2000
    sw.advance_clock(2000)
    assert int(sw.client.status()["latest_block_time_ms"]) >= target
    assert sw.clock.offset_ms == 0


def test_story_world_runs_on_a_localnet(tmp_path: Path) -> None:
    require_network_setup()
    seen = Seen()

    def story(sw: StoryWorld) -> int:
        record_pids(sw, seen)
        check_registry_and_consents(sw, seen)
        check_anchors(sw, seen)
        check_clock(sw)
        check_app_hashes(sw, seen)
        return int(sw.client.status()["height"])

    height, result = run_story_world(None, PARAMS, tmp_path, story, network=True)
    assert height > 0 and result.height >= height
    assert (tmp_path / "network" / "network.json").is_file()
    assert len(result.world.cars) == PARAMS.vehicles
    assert seen.grants > 0
    assert seen.anchor_txs >= result.plane.anchor_txs >= 3
    assert seen.anchors_per_signer_block and max(seen.anchors_per_signer_block) == 1
    assert len(seen.app_hashes) == 4 and len(set(seen.app_hashes.values())) == 1
    assert_all_gone(seen)


def assert_all_gone(seen: Seen) -> None:
    """Every recorded process has exited and its pid file is gone."""
    assert len(seen.pids) == 8
    for path, pid in seen.pids.items():
        assert not processes.is_running(pid), f"pid {pid} ({path.name}) still runs"
        assert processes.read_pid(path) is None


def test_localnet_is_stopped_when_the_story_fails(tmp_path: Path) -> None:
    require_network_setup()
    seen = Seen()

    def story(sw: StoryWorld) -> None:
        record_pids(sw, seen)
        raise RuntimeError("the story failed")

    with pytest.raises(RuntimeError, match="the story failed"):
        run_story_world(None, FleetParams(vehicles=2, minutes=5, seed=1), tmp_path, story,
                        network=True)  # fmt: skip
    assert_all_gone(seen)
