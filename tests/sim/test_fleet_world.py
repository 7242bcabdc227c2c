"""The fleet world: deterministic for a seed, a crash between two brands at a junction,
witnesses exactly the cars in radio range during the window, typed errors on bad input."""

from __future__ import annotations

import dataclasses
import math

import pytest
from typer.testing import CliRunner

from carchain.cli.main import app
from carchain.data.records import EdrEvent, Telemetry, V2xLog, V2xTransfer
from carchain.errors import InvalidSimParameters
from carchain.sim.radio import compute_pairs_brute
from carchain.sim.radio_log import compute_ticks
from carchain.sim.world import FleetParams, FleetWorld, simulate_fleet
from carchain.v2x.transfer import decode_transfer_record, verify_transfer_and_receipt

PARAMS = FleetParams(vehicles=90, minutes=12, seed=7)


@pytest.fixture(scope="module")
def world() -> FleetWorld:
    return simulate_fleet(PARAMS)


def _comparable(world: FleetWorld) -> list[list[tuple[int, object]]]:
    """Every record; transfers reduced to (time, role): their salts and signatures are random."""
    return [
        [(t, (r.time_ms, r.role) if isinstance(r, V2xTransfer) else r) for t, r in recs]
        for recs in world.records
    ]


def test_same_seed_same_world(world: FleetWorld) -> None:
    again = simulate_fleet(PARAMS)
    assert again.routes == world.routes
    assert again.cars == world.cars
    assert again.truth == world.truth
    assert [p.hashed_id8 for p in again.pseudonyms] == [p.hashed_id8 for p in world.pseudonyms]
    assert _comparable(again) == _comparable(world)


def test_other_seed_other_world(world: FleetWorld) -> None:
    other = simulate_fleet(dataclasses.replace(PARAMS, seed=8))
    assert other.routes != world.routes
    assert _comparable(other) != _comparable(world)


def test_crash_is_between_a_foreign_brand_and_another_oem_at_a_junction(world: FleetWorld) -> None:
    truth, plan = world.truth, world.plan
    cars = {c.vehicle_id: c for c in world.cars}
    a, b = (cars[v] for v in truth.vehicles)
    assert a.foreign and not b.foreign and a.oem != b.oem
    jx, jy = world.city.compute_xy(truth.junction)
    for index in (plan.a.index, plan.b.index):
        x, y = world.routes[index].position_at(truth.time_ms)
        assert math.hypot(x - jx, y - jy) < 0.01
        before = world.routes[index].sample_at(truth.time_ms - 3_000)
        assert 20 < before.speed_kmh < 70  # it was driving into the junction


def test_both_edrs_hold_plausible_gb39732_elements(world: FleetWorld) -> None:
    for approach in (world.plan.a, world.plan.b):
        edrs = [r for _, r in world.records[approach.index] if isinstance(r, EdrEvent)]
        assert len(edrs) == 1
        e = edrs[0]
        assert e.event_time_ms == world.truth.time_ms
        assert e.pre_crash_speed_kmh is not None and len(e.pre_crash_speed_kmh) == 11
        assert all(0 <= v <= 120 for v in e.pre_crash_speed_kmh)
        assert e.pre_crash_speed_kmh[-1] < e.pre_crash_speed_kmh[0]  # it braked
        assert e.service_brake is not None and e.service_brake[-1] and not e.service_brake[0]
        assert e.delta_v_long_kmh is not None and len(e.delta_v_long_kmh) == 26
        assert e.max_delta_v_long_kmh is not None and -60 < e.max_delta_v_long_kmh < -5
        assert min(e.delta_v_long_kmh) == pytest.approx(e.max_delta_v_long_kmh, abs=0.01)
        assert e.delta_v_long_kmh == sorted(e.delta_v_long_kmh, reverse=True)  # monotone pulse
    # the foreign car braked hard for 1.5 s, the other ran the light
    assert world.plan.a.brake_s > world.plan.b.brake_s


def _in_range_brute(world: FleetWorld) -> set[str]:
    """The cars in radio range of a crash car at some tick of the window, by brute force."""
    p, w, crash = world.params, world.truth.window, (world.plan.a.index, world.plan.b.index)
    out: set[int] = set()
    for t in compute_ticks(p.start_ms, p.end_ms, w):
        if not w.contains(t):
            continue
        positions = [r.position_at(t) for r in world.routes]
        for i, j in compute_pairs_brute(positions, p.radio_range_m):
            if i in crash and j not in crash:
                out.add(j)
            elif j in crash and i not in crash:
                out.add(i)
    return {world.cars[i].vehicle_id for i in out}


def test_witnesses_are_exactly_the_cars_in_range_during_the_window(world: FleetWorld) -> None:
    assert world.truth.witnesses, "the seed should give the crash some witnesses"
    assert world.truth.witnesses == _in_range_brute(world)


def _peers_in_window(world: FleetWorld, index: int) -> set[str]:
    """Resolve, through the CAs' directory, the peers car ``index`` logged in the window."""
    out = set()
    for _, r in world.records[index]:
        if (
            isinstance(r, V2xLog)
            and r.time_ms is not None
            and world.truth.window.contains(r.time_ms)
        ):
            assert r.peer is not None
            id8 = bytes.fromhex(r.peer)
            found = [world.directory.resolve(oem, id8) for oem in world.directory.by_oem]
            out |= {v for v in found if v is not None}
    return out


def test_the_crash_cars_logs_name_exactly_the_witnesses(world: FleetWorld) -> None:
    """What an investigation reads: the crash cars' logs, resolved by the CAs."""
    a, b = world.plan.a.index, world.plan.b.index
    heard = _peers_in_window(world, a) | _peers_in_window(world, b)
    assert heard - set(world.truth.vehicles) == world.truth.witnesses


def test_each_witness_logged_a_crash_car_in_the_window(world: FleetWorld) -> None:
    index = {c.vehicle_id: c.index for c in world.cars}
    for vid in world.truth.witnesses:
        assert _peers_in_window(world, index[vid]) & set(world.truth.vehicles)


def test_crash_transfer_is_signed_and_receipted(world: FleetWorld) -> None:
    sent = [r for _, r in world.records[world.plan.a.index] if isinstance(r, V2xTransfer)]
    assert sent and sent[0].role == "sender"
    transfer, receipt = decode_transfer_record(sent[0])
    verified = verify_transfer_and_receipt(transfer, receipt)
    assert verified.sender_id8 == world.pseudonyms[world.plan.a.index].hashed_id8


def test_telemetry_is_on_the_grid(world: FleetWorld) -> None:
    samples = [r for recs in world.records for _, r in recs if isinstance(r, Telemetry)]
    assert len(samples) == PARAMS.vehicles * PARAMS.minutes  # one aggregated record a minute
    assert all(r.speed_kmh is not None and 0 <= r.speed_kmh <= 70 for r in samples)


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"vehicles": 0}, "vehicles"),
        ({"vehicles": -3}, "vehicles"),
        ({"minutes": -10}, "minutes"),
        ({"minutes": 0}, "minutes"),
        ({"crash_minute": 500}, "crash_minute"),
        ({"radio_range_m": 0.0}, "radio_range_m"),
    ],
)
def test_invalid_parameters_are_typed(changes: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidSimParameters) as info:
        simulate_fleet(dataclasses.replace(PARAMS, **changes))  # type: ignore[arg-type]
    assert info.value.code == "invalid_sim_parameters"
    assert info.value.fields["param"] == param


@pytest.mark.parametrize("args", [["--vehicles", "0"], ["--minutes", "-5"]])
def test_invalid_cli_parameters_are_one_line(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["sim", *args])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error invalid_sim_parameters: "), lines
    assert "[param=" in lines[0] and result.stdout == ""


@pytest.mark.parametrize("vehicles", [2, 3, 4, 5])
@pytest.mark.parametrize("seed", range(12))
def test_any_small_fleet_has_its_crash(vehicles: int, seed: int) -> None:
    """A fleet of two or more always holds a foreign car and one of another OEM, so the
    crash is planned whatever the seed (small fleets used to fail with a ValueError)."""
    world = simulate_fleet(FleetParams(vehicles=vehicles, minutes=6, seed=seed))
    a, b = (world.cars[i] for i in (world.plan.a.index, world.plan.b.index))
    assert a.foreign and not b.foreign and a.oem != b.oem
