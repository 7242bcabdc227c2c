"""Plausibility checks and the report a finding becomes, accepted by the chain."""

from __future__ import annotations

import hashlib

import pytest

from carchain.core import misbehaviour as core_mb
from carchain.core.v2x_ca import compute_certificate_hashed_id8
from carchain.errors import InvalidV2xBody
from carchain.v2x import misbehaviour as mb
from tests.conftest import CHAIN_ID, seeded_key
from tests.v2x.scms_world import Scms, scms_fixture  # noqa: F401

T0 = 1_700_000_000_000
LAT, LON = 312_304_160, 1_214_737_010  # Shanghai, 1e-7 degrees


def obs(
    ms: int = T0,
    lat: int = LAT,
    lon: int = LON,
    speed: int = 1_500,
    sender: bytes = b"A" * 8,
    region: mb.CircularRegion | None = None,
) -> mb.Observation:
    start, end = T0 // 1000 - 10, T0 // 1000 + 3600
    return mb.Observation(sender, ms, lat, lon, speed, start, end, b"raw", region)


def test_distance_is_great_circle() -> None:
    # 0.001 degree of latitude is ~111.2 m anywhere.
    assert mb.compute_distance_m(LAT, LON, LAT + 10_000, LON) == pytest.approx(111.2, abs=0.5)


def test_plausible_track_passes() -> None:
    checker = mb.PlausibilityChecker()
    for k in range(10):  # 30 m/s north, one message every 100 ms
        assert checker.check(obs(T0 + 100 * k, LAT + k * 27)) is None


def test_position_jump_is_found_but_not_across_senders() -> None:
    checker = mb.PlausibilityChecker()
    assert checker.check(obs()) is None
    assert checker.check(obs(T0 + 100, LAT + 100_000, sender=b"B" * 8)) is None  # another car
    finding = checker.check(obs(T0 + 100, LAT + 100_000))  # 1.1 km in 100 ms
    assert finding is not None and finding.reason == "position_jump"
    # The jump is not remembered: the next honest message compares with the last plausible one.
    assert checker.check(obs(T0 + 200, LAT + 50)) is None


@pytest.mark.parametrize(
    ("observation", "reason"),
    [
        (obs(speed=mb.MAX_SPEED_CM_S + 1), "impossible_speed"),
        (obs(ms=T0 + 3_600_000), "outside_time"),
        (obs(ms=T0 - 20_000), "outside_time"),
        (obs(region=mb.CircularRegion(LAT + 1_000_000, LON, 5_000)), "outside_region"),
    ],
)
def test_static_implausibilities(observation: mb.Observation, reason: str) -> None:
    finding = mb.PlausibilityChecker().check(observation)
    assert finding is not None and finding.reason == reason


def test_unavailable_speed_and_inside_region_are_fine() -> None:
    assert mb.PlausibilityChecker().check(obs(speed=mb.SPEED_UNAVAILABLE)) is None
    assert mb.PlausibilityChecker().check(obs(region=mb.CircularRegion(LAT, LON, 100))) is None


def test_a_finding_becomes_a_report_the_chain_accepts(scms: Scms) -> None:
    car = scms.car("1")
    reporter = scms.issue([car])[car.vehicle_id][0]
    finding = mb.PlausibilityChecker().check(obs(speed=20_000))
    assert finding is not None
    car_report = mb.build_report(CHAIN_ID, reporter, finding, T0 + 5)
    assert car_report.evidence == b"raw"  # the car hands its gateway the evidence in clear
    mama = seeded_key("mama")
    body = mb.seal_report(CHAIN_ID, car_report, [("mama", mama.public_key)])
    scms.world.chain.send("saic", body)  # the gateway relays it, sealed
    report = core_mb.get_report(scms.world.chain.state, 1)
    assert report.evidence_hash == hashlib.sha256(b"raw").digest()
    assert report.reason == "impossible_speed"
    assert mb.open_report_evidence(report, mama, CHAIN_ID, "mama") == b"raw"
    assert report.reporter_hashed_id8 == compute_certificate_hashed_id8(reporter.certificate)
    assert car.vehicle_id.encode() not in scms.world.chain.state.get(
        "v2x", b"mr/" + (1).to_bytes(8, "big")
    )  # type: ignore[operator]


def test_invalid_a_report_for_another_chain_is_refused(scms: Scms) -> None:
    car = scms.car("1")
    reporter = scms.issue([car])[car.vehicle_id][0]
    finding = mb.PlausibilityChecker().check(obs(speed=20_000))
    assert finding is not None
    car_report = mb.build_report("another-chain", reporter, finding, T0 + 5)
    body = mb.seal_report(CHAIN_ID, car_report, [("mama", seeded_key("mama").public_key)])
    assert scms.world.chain.reject("saic", body) == "invalid_signature"


def test_invalid_sealing_without_an_authority_is_refused() -> None:
    finding = mb.PlausibilityChecker().check(obs(speed=20_000))
    assert finding is not None
    car = mb.CarReport(b"raw", "impossible_speed", T0, b"c", b"k", b"r", b"s")
    with pytest.raises(InvalidV2xBody):
        mb.seal_report(CHAIN_ID, car, [])


LAT_NONE, LON_NONE = 900_000_001, 1_800_000_001  # ETSI "unavailable"


def test_unavailable_position_is_no_jump_and_no_region_exit() -> None:
    # a car losing its GNSS fix sends latitude/longitude "unavailable" (900000001,
    # 1800000001); read as coordinates they were a jump of thousands of km, and an
    # honest car was reported (and could be revoked) for a tunnel
    checker = mb.PlausibilityChecker()
    assert checker.check(obs()) is None
    lost = obs(T0 + 100, LAT_NONE, LON_NONE)
    assert checker.check(lost) is None
    assert checker.check(obs(T0 + 200, LAT_NONE, LON)) is None
    region = mb.CircularRegion(LAT, LON, 500)
    assert mb.find_static_implausibility(obs(T0, LAT_NONE, region=region)) is None
    # the fix back is compared with the last known position: a real jump is still found
    assert checker.check(obs(T0 + 300, LAT + 30)) is None
    finding = checker.check(obs(T0 + 400, LAT + 100_000))
    assert finding is not None and finding.reason == "position_jump"
