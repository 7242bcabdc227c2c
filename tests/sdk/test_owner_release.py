"""The owner's release trusts no listing it did not check: a gateway that answers a listed
batch with another batch's header (another time, outside the approval) must not get the
owner to seal that batch's keys; nothing is released."""

from __future__ import annotations

import time
from typing import Any

import pytest

from carchain.core.access_releases import get_release_optional
from carchain.errors import InvalidProof
from carchain.sdk.chainview import ChainView
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.owner_release import release_as_owner
from carchain.sdk.vehicle import Upload
from tests.dataplane import Car, make_records, wait_for
from tests.gateway.custody_world import CustodyWorld, custody_world

__all__ = ["custody_world"]


class SwappingGateway(GatewayClient):
    """A gateway client whose gateway answers one batch with another batch's document."""

    swap: dict[bytes, bytes]

    def batch(self, header_hash: bytes) -> dict[str, Any]:
        """Return the document of the batch swapped in for ``header_hash``."""
        return super().batch(self.swap.get(header_hash, header_hash))


def upload_two_times(w: CustodyWorld, car: Car) -> tuple[list[Upload], list[Upload]]:
    """Upload (and anchor) telemetry batches of 90 minutes ago (before the request's hour)
    and of 10 minutes ago; return them."""
    rec = car.recorder(window_ms=60_000)
    now = int(time.time() * 1000)
    groups = []
    for minutes_ago in (90, 10):
        ups: list[Upload] = []
        for t, r in make_records(30, now - minutes_ago * 60_000):
            ups += rec.add_at(r, t)
        ups += rec.flush()
        for up in ups:
            w.gclient.submit(up.body)
        groups.append(ups)
    w.wait_anchored()
    return groups[0], groups[1]


def test_a_swapped_header_releases_nothing(custody_world: CustodyWorld) -> None:
    w = custody_world
    car = w.register("saic:owner-swap")
    outside, inside = upload_two_times(w, car)
    w.grant(car, ["location"], purpose="navigation_maps")
    seq = w.request(car, ["location"], purpose="navigation_maps")
    view = ChainView(w.client)
    wait_for(lambda: w.log_kinds(car.vehicle_id).count("approved") == 1, what="approved")
    gc = SwappingGateway(w.gateway.url, signer=car.owner)
    gc.swap = {i.header_hash: outside[0].header_hash for i in inside}
    with gc, pytest.raises(InvalidProof):
        release_as_owner(gc, w.client, car.owner, car.vehicle_id, seq)
    assert get_release_optional(view, car.vehicle_id, seq) is None
    # The honest gateway's answers release the window's batches only.
    with GatewayClient(w.gateway.url, signer=car.owner) as og:
        done = release_as_owner(og, w.client, car.owner, car.vehicle_id, seq)
    assert {b.header_hash for b in done.batches} == {u.header_hash for u in inside}
