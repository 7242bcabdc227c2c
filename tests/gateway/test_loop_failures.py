"""The gateway's background loops survive an unexpected exception: it is recorded as an
``internal`` failure naming only its class, the loop backs off and goes on (before, an
untyped error ended the anchoring or custody thread for good, silently)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from carchain.errors import CarchainError, Unauthorized
from carchain.gateway.custody import compute_loop_failure, run_custody_loop
from carchain.gateway.service import AnchoringHealth
from tests.dataplane import World, wait_for
from tests.gateway.test_gateway import now_ms


def test_loop_failure_is_typed_and_names_only_the_class() -> None:
    typed = Unauthorized("no")
    assert compute_loop_failure(typed) is typed
    failure = compute_loop_failure(KeyError("a secret value"))
    assert isinstance(failure, CarchainError) and failure.code == "internal"
    assert "secret" not in failure.message and "KeyError" in failure.message


class _FlakyService:
    """Raises once, then reports one idle step and stops the loop."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.calls = 0

    def step(self) -> bool:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("bug")
        self.stop.set()
        return False


def test_custody_loop_goes_on_after_an_unexpected_exception() -> None:
    stop = threading.Event()
    service: Any = _FlakyService(stop)
    health = AnchoringHealth()
    run_custody_loop(service, health, stop, 0.0)
    assert service.calls == 2  # the loop went on after the RuntimeError
    assert health.total_errors == 1 and health.last_error.startswith("internal: ")
    assert health.errors == 0  # the next step succeeded


def test_anchoring_loop_goes_on_after_an_unexpected_exception(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = world.gateway.gateway
    real_step = gateway.anchorer.step
    raised = threading.Event()

    def flaky_step() -> Any:
        if not raised.is_set():
            raised.set()
            raise RuntimeError("bug")
        return real_step()

    monkeypatch.setattr(gateway.anchorer, "step", flaky_step)
    wait_for(lambda: raised.is_set(), what="the failing step")
    car = world.cars["saic:car-1"]
    receipt = world.gclient.submit(car.upload(start_ms=now_ms() - 60_000).body)
    world.wait_anchored()
    assert gateway.health.total_errors >= 1 and gateway.health.last_error.startswith("internal")
    listed = world.gclient.batches("saic:car-1", anchored_only=True)
    assert receipt["header_hash"] in {b["header_hash"] for b in listed}
