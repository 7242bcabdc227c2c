"""The incident picture's witnesses: cars seen at one place get one marker and one
label listing them all (two labels drawn over each other read as neither)."""

from __future__ import annotations

from types import SimpleNamespace

from carchain.sim.incident_report import group_by_place


def test_witnesses_at_one_place_share_a_label() -> None:
    witnesses = [
        SimpleNamespace(vehicle_id="geely:000256", lon=121.443101, lat=31.223401),
        SimpleNamespace(vehicle_id="geely:000255", lon=121.4431012, lat=31.2234009),
        SimpleNamespace(vehicle_id="saic:000061", lon=121.4452, lat=31.2211),
    ]
    places = group_by_place(SimpleNamespace(witnesses=witnesses))  # type: ignore[arg-type]
    assert sorted(places.values()) == [["geely:000255", "geely:000256"], ["saic:000061"]]


def test_no_witness_no_place() -> None:
    assert group_by_place(SimpleNamespace(witnesses=[])) == {}  # type: ignore[arg-type]
