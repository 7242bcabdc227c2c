"""The gateway's report relay: a car posts a pseudonym-signed report without vehicle
credentials; the gateway submits it as the OEM; a bad report is refused typed, and
nothing reaches the chain."""

from __future__ import annotations

import httpx
import msgspec

from carchain.core import misbehaviour as mb
from carchain.crypto.ecdsa import P256SigningKey
from carchain.sdk.chainview import ChainView
from tests.core.v2x_world import signed_report
from tests.dataplane import World
from tests.dataplane import world as dataplane_world  # noqa: F401


def post(world: World, body: bytes) -> httpx.Response:
    return httpx.post(f"{world.gateway.url}/v2x/reports", content=body, timeout=30)


def test_a_car_reports_through_the_gateway_without_credentials(world: World) -> None:
    before = mb.get_report_count(ChainView(world.client))
    resp = post(world, msgspec.msgpack.encode(signed_report(P256SigningKey.generate())))
    assert resp.status_code == 200, resp.text
    seq = resp.json()["report_seq"]
    assert seq == before + 1
    report = mb.get_report(ChainView(world.client), seq)
    assert report.relayed_by == "saic" and report.status == "open"


def test_invalid_reports_are_refused_before_the_chain(world: World) -> None:
    view = ChainView(world.client)
    before = mb.get_report_count(view)
    good = signed_report(P256SigningKey.generate())
    tampered = msgspec.structs.replace(good, evidence=good.evidence + b"!")
    for body, status, code in (
        (msgspec.msgpack.encode(tampered), 400, "invalid_signature"),
        (b"\x93garbage", 422, "invalid_v2x_body"),
        (bytes(5000), 413, "batch_too_large"),
    ):
        resp = post(world, body)
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), resp.text
    assert mb.get_report_count(view) == before
