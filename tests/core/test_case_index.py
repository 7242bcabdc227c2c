"""The case pointers: per vehicle and per OEM at authorisation, per OEM at each release,
and each vehicle's release summary (present, zero, from authorisation on)."""

from __future__ import annotations

import pytest

from carchain.core import case_index as ci
from carchain.core.case_records import DAY_MS, STORE, CaseRef, CaseScope
from carchain.core.state import get_record_optional
from tests.core import case_world as cw
from tests.core.erasure_world import erasure_genesis, register  # noqa: F401
from tests.core.memory import CoreChain, core_chain  # noqa: F401


@pytest.fixture(name="world")
def case_chain(chain: CoreChain) -> CoreChain:
    for vid in ("saic:1", "saic:2", "geely:1"):
        register(chain, vid)
    return chain


def test_registration_proves_no_case(world: CoreChain) -> None:
    key = ci.compute_vehicle_case_count_key("saic:1")
    assert world.state.get(STORE, key) == (0).to_bytes(8, "big")
    assert ci.get_vehicle_cases(world.state, "saic:1") == []


def test_admission_proves_no_case_and_no_release(world: CoreChain) -> None:
    zero = (0).to_bytes(8, "big")
    for member in ("saic", "geely", "police"):
        assert world.state.get(STORE, ci.compute_oem_case_count_key(member)) == zero
        assert world.state.get(STORE, ci.compute_oem_release_count_key(member)) == zero


def test_open_case_indexes_nothing(world: CoreChain) -> None:
    cw.open_case(world)
    assert ci.get_vehicle_cases(world.state, "saic:1") == []
    assert ci.get_oem_case_page(world.state, "saic", 0, 10) == []


def test_authorized_scope_is_indexed_per_vehicle_and_oem(world: CoreChain) -> None:
    scope = CaseScope(["geely:1", "saic:1", "saic:2"], ["location"], 0, DAY_MS)
    cw.open_case(world, 1, scope)
    cw.authorize(world, 1)
    assert ci.get_vehicle_cases(world.state, "saic:1") == [CaseRef(1, "saic:1")]
    assert ci.get_vehicle_cases(world.state, "geely:1") == [CaseRef(1, "geely:1")]
    assert ci.get_oem_case_page(world.state, "saic", 0, 10) == [
        (0, CaseRef(1, "saic:1")),
        (1, CaseRef(1, "saic:2")),
    ]
    assert ci.get_oem_case_page(world.state, "geely", 0, 10) == [(0, CaseRef(1, "geely:1"))]
    assert ci.get_vehicle_releases(world.state, 1, "saic:2") == ci.VehicleReleases()
    raw = world.state.get(STORE, ci.compute_vehicle_releases_key(1, "saic:2"))
    assert raw is not None  # present, so a reader can prove "nothing released"


def test_release_points_each_oem_touched_once(world: CoreChain) -> None:
    scope = CaseScope(["geely:1", "saic:1", "saic:2"], ["diagnostics", "location"], 0, DAY_MS)
    cw.open_case(world, 1, scope)
    cw.authorize(world, 1)
    r0 = cw.release(world, [("saic:1", 0, "location"), ("saic:2", 0, "diagnostics")])
    r1 = cw.release(world, [("saic:1", 0, "diagnostics"), ("geely:1", 0, "location")])

    def pointers(oem: str) -> list[ci.ReleasePointer | None]:
        n = ci.get_count(world.state, ci.compute_oem_release_count_key(oem))
        return [
            get_record_optional(
                world.state, STORE, ci.compute_oem_release_key(oem, i), ci.ReleasePointer
            )
            for i in range(n)
        ]

    assert pointers("saic") == [ci.ReleasePointer(1, 0), ci.ReleasePointer(1, 1)]
    assert pointers("geely") == [ci.ReleasePointer(1, 1)]
    summary = ci.get_vehicle_releases(world.state, 1, "saic:1")
    assert summary == ci.VehicleReleases(2, ["diagnostics", "location"], r0.time_ms, r1.time_ms)
    assert ci.get_vehicle_releases(world.state, 1, "saic:2").keys == 1
