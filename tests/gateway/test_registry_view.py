"""The gateway's registry view: records from memory, changed exactly by the chain's
vehicle events, and no node call per batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from carchain.core.vehicles import (
    STORE,
    RevokeVehicle,
    TransferVehicle,
    Vehicle,
    VehicleStatus,
    compute_vehicle_key,
)
from carchain.crypto.signing import SigningKey
from carchain.errors import NodeUnavailable, NotFound
from carchain.gateway.registry_view import RegistryView
from carchain.gateway.server import find_free_port
from carchain.sdk.client import Client
from carchain.sdk.events import StreamEvent
from carchain.sdk.transactions import sign_transfer_consent
from tests.conftest import CHAIN_ID
from tests.dataplane import World
from tests.dataplane import world as dataplane_world

world = dataplane_world
OWNER = SigningKey.generate().public_key


def now_ms() -> int:
    return int(time.time() * 1000)


class CountingClient:
    """A node client that counts its calls by kind."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.calls = {"status": 0, "query": 0, "events": 0}

    def status(self) -> dict[str, Any]:
        self.calls["status"] += 1
        return self.client.status()

    def query(self, store: str, key: bytes, prove: bool = False, height: int = 0) -> dict[str, Any]:
        self.calls["query"] += 1
        return self.client.query(store, key, prove, height)

    def events(
        self,
        types: Iterable[str] = (),
        vehicle: str = "",
        member: str = "",
        from_height: int | None = None,
        follow: bool = True,
    ) -> Iterator[StreamEvent]:
        self.calls["events"] += 1
        return self.client.events(types, vehicle, member, from_height, follow)


def test_lookups_after_the_first_come_from_memory(world: World) -> None:
    car = world.register("saic:rv-mem")
    node = CountingClient(world.client)
    view = RegistryView(node, sync_interval_s=3600)
    first = view.get_vehicle(car.vehicle_id)
    for _ in range(50):
        assert view.get_vehicle(car.vehicle_id, now_ms() - 60_000) == first
    assert node.calls["query"] == 1  # one read, then 50 answers from memory
    assert node.calls["status"] == 1  # one sync served every lookup
    assert view.counts["hits"] == 50


def test_a_revocation_takes_effect_at_the_block_that_commits_it(world: World) -> None:
    car = world.register("saic:rv-revoke")
    view = RegistryView(world.client)
    assert view.get_vehicle(car.vehicle_id).status == VehicleStatus.ACTIVE
    assert view.get_vehicle(car.vehicle_id).status == VehicleStatus.ACTIVE  # from memory
    world.send(RevokeVehicle(car.vehicle_id, "stolen"))
    height = int(world.client.query(STORE, compute_vehicle_key(car.vehicle_id))["height"])
    # A batch completed after the revocation's block sees it: the event dropped the record.
    revoked = view.get_vehicle(car.vehicle_id, now_ms())
    assert revoked.status == VehicleStatus.REVOKED
    assert view.height >= height and view.counts["dropped"] == 1


def test_a_transfer_changes_the_owner_and_keeps_the_past_period(world: World) -> None:
    car = world.register("saic:rv-sold")
    buyer = SigningKey.generate()
    view = RegistryView(world.client)
    before = view.get_vehicle(car.vehicle_id)
    sig = sign_transfer_consent(CHAIN_ID, car.owner, car.vehicle_id, buyer.public_key, 0)
    world.send(TransferVehicle(car.vehicle_id, buyer.public_key, sig))
    after = view.get_vehicle(car.vehicle_id, now_ms())
    assert after.owner == buyer.public_key and after.transfer_seq == 1
    past = view.get_owner_period(after, after.owner_since_ms - 1)
    assert past.owner == car.owner.public_key == before.owner
    assert view.get_owner_period(after, after.owner_since_ms).owner == buyer.public_key


def test_an_unregistered_vehicle_is_not_found_and_then_found(world: World) -> None:
    view = RegistryView(world.client)
    with pytest.raises(NotFound):
        view.get_vehicle("saic:rv-later")
    car = world.register("saic:rv-later")
    assert view.get_vehicle(car.vehicle_id, now_ms()).vehicle_id == car.vehicle_id


def test_the_gateway_reads_no_vehicle_record_per_batch(world: World) -> None:
    car = world.register("saic:rv-gw")
    rec = car.recorder(window_ms=60_000)
    from tests.dataplane import make_records

    ups = [u for t, r in make_records(200, now_ms() - 250_000) for u in rec.add_at(r, t)]
    assert len(ups) >= 3
    registry = world.gateway.gateway.registry
    world.gclient.submit(ups[0].body)
    reads = registry.counts["reads"]
    for up in ups[1:]:
        world.gclient.submit(up.body)
    assert registry.counts["reads"] == reads  # the car's record came from memory
    status = world.gclient.status()
    assert status["registry_height"] >= 1 and status["registry_hits"] >= len(ups) - 1


def test_a_node_that_is_down_is_a_typed_error(world: World) -> None:
    dead = Client(f"http://127.0.0.1:{find_free_port()}", timeout_s=2.0)
    view = RegistryView(dead, wait_s=2.0)
    with pytest.raises(NodeUnavailable):
        view.get_vehicle("saic:car-1")
    dead.close()


# --- the view's rules on a scripted node ---------------------------------------------


def make_vehicle(vehicle_id: str, status: VehicleStatus = VehicleStatus.ACTIVE) -> Vehicle:
    return Vehicle(vehicle_id, "saic", b"\0" * 32, b"\1" * 32, "RX5", 2024, OWNER, status, 1)  # type: ignore[arg-type]


class ScriptedNode:
    """A node whose height, records, events and read heights a test sets."""

    def __init__(self) -> None:
        self.height = 10
        self.records: dict[str, Vehicle] = {}
        self.read_height: int | None = None  # the height a read reports (default: height)
        self.events_log: list[StreamEvent] = []
        self.event_requests: list[int | None] = []
        self.events_error: Exception | None = None

    def status(self) -> dict[str, Any]:
        return {"height": self.height}

    def query(self, store: str, key: bytes, prove: bool = False, height: int = 0) -> dict[str, Any]:
        import msgspec

        vid = key.decode().removeprefix("v/")
        match = [v for v in self.records.values() if compute_vehicle_key(v.vehicle_id) == key]
        if not match:
            raise NotFound("no such vehicle", vehicle_id=vid)
        raw = msgspec.msgpack.encode(match[0])
        return {"value": raw.hex(), "height": self.read_height or self.height}

    def events(
        self,
        types: Iterable[str] = (),
        vehicle: str = "",
        member: str = "",
        from_height: int | None = None,
        follow: bool = True,
    ) -> Iterator[StreamEvent]:
        self.event_requests.append(from_height)
        if self.events_error is not None:
            raise self.events_error
        wanted = set(types)
        return iter(
            [e for e in self.events_log if e.height >= (from_height or 1) and e.type in wanted]
        )

    def add_event(self, height: int, vehicle_id: str) -> None:
        eid = f"{height}:0:1"
        self.events_log.append(
            StreamEvent(eid, height, 0, 1, "00", 0, "vehicle_revoked", {"vehicle_id": vehicle_id})
        )


def test_the_first_sync_takes_the_height_and_later_ones_read_events_after_it() -> None:
    node = ScriptedNode()
    view = RegistryView(node, sync_interval_s=0)
    view.sync()
    assert view.height == 10 and node.event_requests == []
    view.sync()  # nothing new: no events request
    assert node.event_requests == []
    node.height = 12
    view.sync()
    assert node.event_requests == [11] and view.height == 12


def test_a_record_read_below_an_applied_event_is_not_kept() -> None:
    node = ScriptedNode()
    node.records["saic:a"] = make_vehicle("saic:a")
    view = RegistryView(node, sync_interval_s=0)
    view.sync()
    view.apply_event(15, "saic:a")  # an event of block 15 is already applied...
    node.read_height = 14  # ...and a slow read answers from block 14
    view.get_vehicle("saic:a")
    assert view.to_dict()["registry_cached"] == 0  # not kept: it may predate the change
    node.read_height = 15
    view.get_vehicle("saic:a")
    assert view.to_dict()["registry_cached"] == 1


def test_an_event_drops_the_record_and_the_next_lookup_reads_the_change() -> None:
    node = ScriptedNode()
    node.records["saic:a"] = make_vehicle("saic:a")
    view = RegistryView(node, sync_interval_s=0)
    assert view.get_vehicle("saic:a").status == VehicleStatus.ACTIVE
    node.records["saic:a"] = make_vehicle("saic:a", VehicleStatus.REVOKED)
    assert view.get_vehicle("saic:a", 0).status == VehicleStatus.ACTIVE  # no event yet
    node.height = 11
    node.add_event(11, "saic:a")
    assert view.get_vehicle("saic:a", now_ms()).status == VehicleStatus.REVOKED


def test_the_view_holds_at_most_its_capacity_least_recently_used_out() -> None:
    node = ScriptedNode()
    for name in ("saic:a", "saic:b", "saic:c"):
        node.records[name] = make_vehicle(name)
    view = RegistryView(node, capacity=2, sync_interval_s=3600)
    for name in ("saic:a", "saic:b", "saic:a", "saic:c"):
        view.get_vehicle(name)
    assert view.to_dict()["registry_cached"] == 2
    reads = view.counts["reads"]
    view.get_vehicle("saic:a")  # kept (recently used)
    assert view.counts["reads"] == reads
    view.get_vehicle("saic:b")  # evicted: read again
    assert view.counts["reads"] == reads + 1


def test_concurrent_lookups_share_syncs() -> None:
    node = ScriptedNode()
    node.records["saic:a"] = make_vehicle("saic:a")
    view = RegistryView(node, sync_interval_s=0.05)
    start = threading.Barrier(16)

    def lookup() -> None:
        start.wait()
        for _ in range(20):
            view.get_vehicle("saic:a", now_ms())

    threads = [threading.Thread(target=lookup) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 320 lookups each needing a sync begun after it: far fewer syncs than lookups.
    assert view.counts["syncs"] < 320 // 2
    assert view.counts["hits"] + view.counts["reads"] == 320


def cached(view: RegistryView) -> object:
    return view.to_dict()["registry_cached"]


def test_a_stream_that_fails_mid_sync_makes_the_view_forget_not_guess() -> None:
    node = ScriptedNode()
    node.records["saic:a"] = make_vehicle("saic:a")
    view = RegistryView(node, sync_interval_s=0)
    view.get_vehicle("saic:a")
    node.height, node.events_error = 11, NodeUnavailable("stream cut")
    node.records["saic:a"] = make_vehicle("saic:a", VehicleStatus.REVOKED)
    assert view.get_vehicle("saic:a", now_ms()).status == VehicleStatus.REVOKED
    assert view.counts["resets"] == 2 and view.height == 11  # the first sync, then this


def test_a_node_whose_height_went_down_resets_the_view() -> None:
    node = ScriptedNode()
    node.records["saic:a"] = make_vehicle("saic:a")
    view = RegistryView(node, sync_interval_s=0)
    view.get_vehicle("saic:a")
    node.height = 4  # a restored or replaced node: its chain is not the one we followed
    node.records["saic:a"] = make_vehicle("saic:a", VehicleStatus.REVOKED)
    assert view.get_vehicle("saic:a", now_ms()).status == VehicleStatus.REVOKED
    assert view.height == 4 and node.event_requests == []


def test_a_long_gap_is_not_replayed_the_view_resets() -> None:
    from carchain.gateway.registry_view import MAX_REPLAY_BLOCKS

    node = ScriptedNode()
    node.records["saic:a"] = make_vehicle("saic:a")
    view = RegistryView(node, sync_interval_s=0)
    view.get_vehicle("saic:a")
    node.height = 10 + MAX_REPLAY_BLOCKS + 1
    view.sync()
    assert node.event_requests == [] and cached(view) == 0
    node.height += 5
    view.sync()  # a short gap again: replayed
    assert node.event_requests == [10 + MAX_REPLAY_BLOCKS + 2]


def test_a_read_from_below_the_synced_height_is_refused() -> None:
    node = ScriptedNode()
    node.records["saic:a"] = make_vehicle("saic:a")
    view = RegistryView(node, sync_interval_s=0)
    view.sync()
    node.read_height = 9  # a lagging replica behind the view's height (10)
    with pytest.raises(NodeUnavailable):
        view.get_vehicle("saic:a")
    assert cached(view) == 0


def test_a_backdated_batch_still_sees_changes_older_than_max_lag() -> None:
    node = ScriptedNode()
    node.records["saic:a"] = make_vehicle("saic:a")
    view = RegistryView(node, sync_interval_s=0, max_lag_s=0)
    view.get_vehicle("saic:a")
    node.height = 11
    node.add_event(11, "saic:a")
    node.records["saic:a"] = make_vehicle("saic:a", VehicleStatus.REVOKED)
    # The batch ended an hour ago, before the last sync: max_lag still forces a new one.
    old = now_ms() - 3_600_000
    assert view.get_vehicle("saic:a", old).status == VehicleStatus.REVOKED


def test_a_step_of_the_wall_clock_back_does_not_freeze_the_view(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from carchain.gateway import registry_view

    node = ScriptedNode()
    node.records["saic:a"] = make_vehicle("saic:a")
    view = RegistryView(node, sync_interval_s=0)
    view.get_vehicle("saic:a", now_ms())
    real = time.time
    monkeypatch.setattr(registry_view.time, "time", lambda: real() - 60)  # NTP steps back
    node.height = 11
    node.add_event(11, "saic:a")
    node.records["saic:a"] = make_vehicle("saic:a", VehicleStatus.REVOKED)
    stepped_now_ms = int((real() - 60) * 1000)
    assert view.get_vehicle("saic:a", stepped_now_ms).status == VehicleStatus.REVOKED


def test_other_oems_records_are_answered_not_kept() -> None:
    node = ScriptedNode()
    node.records["geely:x"] = make_vehicle("geely:x")  # make_vehicle's oem is saic
    node.records["geely:x"] = msgspec_replace(node.records["geely:x"], oem="geely")
    view = RegistryView(node, oem="saic", sync_interval_s=3600)
    assert view.get_vehicle("geely:x").oem == "geely"
    assert cached(view) == 0


def test_a_status_without_a_height_is_a_typed_error() -> None:
    node = ScriptedNode()
    node.status = lambda: {"height": "ten"}  # type: ignore[method-assign]
    with pytest.raises(NodeUnavailable):
        RegistryView(node).get_vehicle("saic:a")


def msgspec_replace(vehicle: Vehicle, **changes: object) -> Vehicle:
    import msgspec

    return msgspec.structs.replace(vehicle, **changes)
