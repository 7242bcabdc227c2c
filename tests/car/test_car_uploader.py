"""``car send`` against the real gateway app of a live node: a gateway that refuses
connections, answers 503 and 429, or loses an answer, then recovers; permanent refusals
are not retried; a sent batch becomes anchored once the car checked it on chain, with the
anchor seq and height the chain has, whatever a lying or broken gateway answers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from carchain.core.anchors import get_anchor
from carchain.core.vehicles import RegisterVehicle
from carchain.errors import (
    CarchainError,
    CarUploadRefused,
    GatewayUnreachable,
    InvalidProof,
    Unauthorized,
)
from carchain.gateway.app import create_gateway_app
from carchain.sdk.car_home import CarHome, open_car_home
from carchain.sdk.car_state import SENT
from carchain.sdk.car_status import compute_counts, refresh_anchors
from carchain.sdk.car_uploader import CarUploader, RetryPolicy, UploadEvent, get_pending
from carchain.sdk.chainview import ChainView
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.vin import compute_vin_commitment
from carchain.sim.car_trip import drive, plan_trip
from carchain.sim.embedded import find_free_port
from tests.car.gateways import (
    ProofRewriter,
    Rewrite,
    change,
    garble_anchor_numbers,
    lie_about_anchor,
    replace_with,
    serving,
)
from tests.car.homes import PASSPHRASE, make_home
from tests.conftest import VIN_SALT, make_vin, seeded_key
from tests.dataplane import World, make_records

Asgi = Any


class FlakyGateway:
    """The real gateway app behind a switch: the first uploads get ``failures`` statuses
    (``"lost"``: stored by the gateway, but the answer is a 503)."""

    def __init__(self, app: Asgi, failures: list[int | str]) -> None:
        self.app = app
        self.failures = failures
        self.uploads = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        is_upload = scope["type"] == "http" and scope["path"] == "/batches"
        if not (is_upload and scope["method"] == "POST" and self.failures):
            await self.app(scope, receive, send)
            return
        self.uploads += 1
        failure = self.failures.pop(0)
        if failure == "lost":

            async def drop(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "status": 503, "headers": []}
                elif message["type"] == "http.response.body":
                    message = {**message, "body": b""}
                await send(message)

            await self.app(scope, receive, drop)
            return
        while (await receive()).get("more_body"):
            pass
        headers = [(b"retry-after", b"0")] if failure == 429 else []
        await send({"type": "http.response.start", "status": failure, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def register_home(world: World, home: CarHome) -> None:
    """Register the car home's vehicle key on chain (SAIC, owner seeded)."""
    vid = home.config.vehicle_id
    world.send(
        RegisterVehicle(
            vid,
            compute_vin_commitment(make_vin(vid), VIN_SALT),
            home.key.public_key,
            "RX5",
            2024,
            seeded_key(f"owner/{vid}").public_key,
        )
    )


def driven_home(world: World, root: Path, vid: str, port: int, minutes: int = 12) -> CarHome:
    """A registered car home pointing at ``port`` with one trip's batches pending."""
    home = make_home(root, vid, f"http://127.0.0.1:{port}", world.client.url)
    register_home(world, home)
    plan = plan_trip(int(time.time() * 1000), minutes, edr=True, v2x=True, seed=1)
    report = drive(home, world.client, plan)
    assert len(report.batches) >= 3 and report.crash_ms  # two windows and the EDR batch
    return home


class Sleeps:
    """Records backoff waits instead of sleeping; runs ``then`` at the n-th wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.hooks: dict[int, Any] = {}

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        hook = self.hooks.pop(len(self.waits), None)
        if hook is not None:
            hook()


def test_refused_connections_then_5xx_and_429_then_recovery(world: World, tmp_path: Path) -> None:
    port = find_free_port()
    home = driven_home(world, tmp_path / "car", "saic:car-retry", port)
    pending = len(get_pending(home))
    flaky = FlakyGateway(create_gateway_app(world.gateway.gateway), [503, 502, 429])
    sleeps, events = Sleeps(), list[UploadEvent]()
    started: list[Any] = []

    def start() -> None:
        started.append(serving(flaky, port))
        started[0].__enter__()

    sleeps.hooks[2] = start  # nothing listens: after two refused connections it comes up
    try:
        report = CarUploader(
            home, RetryPolicy(attempts=8), on_event=events.append, sleep=sleeps
        ).send_pending()
    finally:
        if started:
            started[0].__exit__(None, None, None)
    retries = [e for e in events if e.kind == "retry"]
    assert [e.reason.split(":")[0] for e in retries[:2]] == ["ConnectError", "ConnectError"]
    assert [e.reason for e in retries[2:]] == ["HTTP 503", "HTTP 502", "HTTP 429"]
    assert sleeps.waits == [0.5, 1.0, 2.0, 4.0, 8.0]  # doubling, capped at 8 s
    assert len(report.sent) == pending and report.retries == 5
    assert flaky.uploads == 3 and not get_pending(home)
    reopened = open_car_home(tmp_path / "car", PASSPHRASE)
    assert compute_counts(reopened)["sent"] == pending
    world.wait_anchored()
    reopened.config.gateway = world.gateway.url  # the same gateway, its own listener
    assert refresh_anchors(reopened, world.client) == pending
    assert all(b.anchor_height > 0 for b in reopened.state.batches)


def test_a_lost_answer_is_not_sent_twice(world: World, tmp_path: Path) -> None:
    port = find_free_port()
    home = driven_home(world, tmp_path / "car", "saic:car-lost", port, minutes=3)
    flaky = FlakyGateway(create_gateway_app(world.gateway.gateway), ["lost"])
    with serving(flaky, port):
        report = CarUploader(home, sleep=Sleeps()).send_pending()
    assert report.stored_already == 1 and report.retries == 1
    assert not get_pending(home)
    assert home.state.batches[0].attempts == 2


def test_invalid_permanent_refusal_is_not_retried(world: World, tmp_path: Path) -> None:
    port = find_free_port()
    home = driven_home(world, tmp_path / "car", "saic:car-refused", port, minutes=3)
    sleeps = Sleeps()
    with serving(create_gateway_app(world.gateway.gateway), port):
        CarUploader(home, sleep=sleeps).send_pending()
        first = home.state.batches[0]
        # The same seq again, as a car that lost its counter would send it: a 409.
        first.status = "pending"
        first.attempts = 0
        with pytest.raises(CarUploadRefused) as exc:
            CarUploader(home, sleep=sleeps).send_pending()
    assert exc.value.fields["reason"] == "replayed_batch" and sleeps.waits == []
    assert first.status == "pending" and first.attempts == 1
    assert first.last_error.startswith("replayed_batch")


@pytest.mark.parametrize(
    ("vid", "code"),
    [("saic:car-never", "unregistered_vehicle"), ("saic:car-1", "invalid_signature")],
)
def test_invalid_refused_vehicle_is_refused_once(
    world: World, tmp_path: Path, vid: str, code: str
) -> None:
    port = find_free_port()
    # Not registered, or registered with another key: refused, never retried.
    home = make_home(tmp_path / "car", vid, f"http://127.0.0.1:{port}")
    rec = home.make_recorder(seeded_key("owner/x").public_key, 0, None)
    ups = []
    for t, r in make_records(5, int(time.time() * 1000) - 60_000):
        ups += rec.add_at(r, t)
    home.store_batch([*ups, *rec.flush()][0])
    sleeps = Sleeps()
    app = create_gateway_app(world.gateway.gateway)
    with serving(app, port), pytest.raises(CarUploadRefused) as exc:
        CarUploader(home, sleep=sleeps).send_pending()
    assert exc.value.fields["reason"] == code and sleeps.waits == []
    assert len(get_pending(home)) == 1 and home.state.batches[0].attempts == 1


def test_invalid_gateway_that_never_recovers(world: World, tmp_path: Path) -> None:
    port = find_free_port()
    home = driven_home(world, tmp_path / "car", "saic:car-down", port, minutes=3)
    sleeps = Sleeps()
    with pytest.raises(GatewayUnreachable) as exc:
        CarUploader(home, RetryPolicy(attempts=3), sleep=sleeps).send_pending()
    assert exc.value.fields["attempts"] == 3 and sleeps.waits == [0.5, 1.0]
    assert exc.value.fields["gateway"] == f"http://127.0.0.1:{port}"
    reopened = open_car_home(tmp_path / "car", PASSPHRASE)
    assert len(get_pending(reopened)) == len(reopened.state.batches)
    assert reopened.state.batches[0].attempts == 3


def test_invalid_vehicle_key_reads_only_its_own_batch_proof(world: World, tmp_path: Path) -> None:
    home = driven_home(world, tmp_path / "car", "saic:car-reader", world.gateway.port, 3)
    CarUploader(home, sleep=Sleeps()).send_pending()
    world.wait_anchored()
    mine = home.state.batches[0].header_hash
    with GatewayClient(world.gateway.url, signer=home.key) as gc:
        assert gc.batch_proof(mine)["anchor"]["height"] > 0
        for read in (
            lambda: gc.ciphertext(mine),
            lambda: gc.batch(mine),
            lambda: gc.batches(home.config.vehicle_id),
            lambda: gc.segment_ciphertext(mine, "time"),
            lambda: gc.batch_proof(mine, request_seq=0),
        ):
            with pytest.raises(CarchainError) as exc:
                read()
            assert exc.value.code in {"unauthorized", "not_found"}, exc.value
    other = make_home(tmp_path / "other", "saic:car-reader2", world.gateway.url)
    with GatewayClient(world.gateway.url, signer=other.key) as gc, pytest.raises(Unauthorized):
        gc.batch_proof(mine)


def true_anchor(world: World, home: CarHome, header_hash: bytes) -> tuple[int, int]:
    """The batch's anchor (seq, height) as the honest gateway names it and the chain has it."""
    with GatewayClient(world.gateway.url, signer=home.key) as gc:
        anchor = gc.batch_proof(header_hash)["anchor"]
    assert get_anchor(ChainView(world.client), "saic", anchor["seq"]).height == anchor["height"]
    return anchor["seq"], anchor["height"]


def forget_anchors(home: CarHome) -> None:
    """Mark every batch sent again, as before ``car status`` checked it."""
    for b in home.state.batches:
        b.status, b.anchor_seq, b.anchor_height = SENT, 0, 0


def test_invalid_gateway_lying_about_anchor_seq_and_height(world: World, tmp_path: Path) -> None:
    port = find_free_port()
    home = driven_home(world, tmp_path / "car", "saic:car-liar", port, minutes=3)
    liar = ProofRewriter(create_gateway_app(world.gateway.gateway))
    with serving(liar, port):
        CarUploader(home, sleep=Sleeps()).send_pending()
        world.wait_anchored()
        truth = [true_anchor(world, home, b.header_hash) for b in home.state.batches]
        for rewrite in (lie_about_anchor, garble_anchor_numbers):
            forget_anchors(home)
            liar.rewrite = rewrite
            assert refresh_anchors(home, world.client) == len(truth)
            assert [(b.anchor_seq, b.anchor_height) for b in home.state.batches] == truth
    assert liar.rewritten == 2 * len(truth)
    reopened = open_car_home(tmp_path / "car", PASSPHRASE)
    assert [(b.anchor_seq, b.anchor_height) for b in reopened.state.batches] == truth


GARBAGE: list[tuple[str, Rewrite, type[CarchainError]]] = [
    ("empty object", replace_with({}), InvalidProof),
    ("no JSON", lambda _doc: b"<html>not json</html>", InvalidProof),
    ("a list", replace_with([1, 2]), GatewayUnreachable),
    ("anchor not an object", change("anchor", "seven"), InvalidProof),
    ("anchor tx a number", change("anchor.tx", 12), InvalidProof),
    ("anchor tx no hex", change("anchor.tx", "zz"), InvalidProof),
    ("anchor tx garbage bytes", change("anchor.tx", "ff" * 40), InvalidProof),
    ("anchor missing tx", change("anchor", {"seq": 0, "height": 1}), InvalidProof),
    ("header null", change("batch_header", None), InvalidProof),
    ("header garbage", change("batch_header", "00" * 8), InvalidProof),
    ("proof a list", change("batch_proof", [1]), InvalidProof),
    ("proof fields wrong", change("batch_proof", {"total": "x", "index": 0}), InvalidProof),
]


def test_invalid_gateway_garbage_proof_is_a_typed_error(world: World, tmp_path: Path) -> None:
    port = find_free_port()
    home = driven_home(world, tmp_path / "car", "saic:car-garbage", port, minutes=3)
    broken = ProofRewriter(create_gateway_app(world.gateway.gateway))
    with serving(broken, port):
        CarUploader(home, sleep=Sleeps()).send_pending()
        world.wait_anchored()
        for name, rewrite, error in GARBAGE:
            broken.rewrite = rewrite
            with pytest.raises(error):
                refresh_anchors(home, world.client)
            assert all(b.status == SENT and not b.anchor_height for b in home.state.batches), name
        broken.rewrite = None  # the gateway mended: the same batches check fine
        assert refresh_anchors(home, world.client) == len(home.state.batches)
