"""The uploader's backoff and the recorder's restore hooks, without a network."""

from __future__ import annotations

import httpx
import pytest

from carchain.sdk.car_uploader import TRANSIENT_STATUSES, RetryPolicy, post_batch
from carchain.sdk.vehicle import VehicleRecorder
from tests.conftest import seeded_key


def test_backoff_doubles_is_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(attempts=6, base_s=0.5, max_s=8.0)
    assert [policy.compute_delay_s(a) for a in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert policy.compute_delay_s(1, retry_after_s=3.0) == 3.0  # the server asks for longer
    assert policy.compute_delay_s(3, retry_after_s=1.0) == 2.0  # never shorter than ours
    assert policy.compute_delay_s(1, retry_after_s=3600.0) == 8.0  # nor past the cap


def test_only_transient_statuses_are_retried() -> None:
    assert {429, 500, 502, 503, 504} <= TRANSIENT_STATUSES
    assert not {400, 401, 403, 404, 409, 413, 422} & TRANSIENT_STATUSES


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [(b"3", 3.0), ("\u00b2".encode("latin-1"), None), ("\u0663".encode(), None), (b"-1", None)],
)
def test_retry_after_takes_ascii_digits_only(raw: bytes, seconds: float | None) -> None:
    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers=[(b"retry-after", raw)])

    transport = httpx.MockTransport(answer)
    with (
        httpx.Client(transport=transport, base_url="http://127.0.0.1:1") as http,
        pytest.raises(Exception) as exc,  # the uploader's retry signal, not a crash
    ):
        post_batch(http, b"batch")
    assert type(exc.value).__name__ == "_Transient"
    assert getattr(exc.value, "retry_after_s", "missing") == seconds


@pytest.mark.parametrize(("key", "seq"), [(b"\x00" * 31, 0), (b"\x00" * 32, -1)])
def test_invalid_restore_is_refused(key: bytes, seq: int) -> None:
    k = seeded_key("vehicle/restore")
    rec = VehicleRecorder("saic:r", k, seeded_key("owner").public_key, k.public_key)
    with pytest.raises(ValueError):
        rec.restore_epoch(1, key, seq, {})
    assert rec.get_next_seq(1) == 0 and rec.get_epoch_state() == {}


def test_restore_never_lowers_a_counter() -> None:
    k = seeded_key("vehicle/restore")
    rec = VehicleRecorder("saic:r", k, seeded_key("owner").public_key, k.public_key)
    rec.restore_next_seq(7, 5)
    rec.restore_next_seq(7, 2)
    rec.restore_epoch(7, b"\x01" * 32, 3, {})
    assert rec.get_next_seq(7) == 5
