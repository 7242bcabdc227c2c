"""Send a car's pending batches to its OEM's gateway, with retry and backoff.

Transient failures (connection refused or reset, a timeout, HTTP 408/425/429 and
5xx) are retried with exponential backoff (``RetryPolicy``: 0.5 s doubling to at
most 8 s, honouring a ``Retry-After`` up to that), then reported as
``GatewayUnreachable``. A refusal (any other 4xx: the gateway's typed error) is
permanent: not retried, reported as ``CarUploadRefused`` naming the gateway's
code; the batch stays pending. Every attempt is counted in the state *before* it
is made, so when an earlier attempt reached the gateway but its answer was lost,
the gateway's ``replayed_batch`` for that batch means it is stored: it is marked
sent, never sent as a different batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from carchain.errors import CarchainError, CarUploadRefused, GatewayUnreachable
from carchain.sdk.car_home import CarHome
from carchain.sdk.car_state import PENDING, SENT, BatchEntry
from carchain.sdk.http import compute_response_error, get_ssl_context

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure."""

    attempts: int = 6
    base_s: float = 0.5
    max_s: float = 8.0

    def compute_delay_s(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Return the wait after failed attempt ``attempt`` (1-based)."""
        delay = min(self.max_s, self.base_s * 2.0 ** (attempt - 1))
        if retry_after_s is not None:
            delay = min(self.max_s, max(delay, retry_after_s))
        return delay


@dataclass(frozen=True, slots=True)
class UploadEvent:
    """What the uploader is doing, for a progress display."""

    kind: str  # "sent", "stored_already", "retry"
    entry: BatchEntry
    attempt: int = 0
    delay_s: float = 0.0
    reason: str = ""


@dataclass
class SendReport:
    """What one ``send`` did."""

    sent: list[BatchEntry] = field(default_factory=list)
    stored_already: int = 0
    retries: int = 0


class _Transient(Exception):
    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


def get_pending(home: CarHome) -> list[BatchEntry]:
    """Return the home's pending batches, oldest first."""
    return [b for b in home.state.batches if b.status == PENDING]


def post_batch(http: httpx.Client, body: bytes) -> None:
    """Upload one batch; raise ``_Transient`` for what a retry may fix, the gateway's
    typed error for a refusal."""
    try:
        resp = http.post(
            "/batches", content=body, headers={"content-type": "application/octet-stream"}
        )
    except httpx.TransportError as exc:
        raise _Transient(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
    if resp.status_code == 200:
        return
    if resp.status_code in TRANSIENT_STATUSES:
        raise _Transient(f"HTTP {resp.status_code}", _parse_retry_after(resp))
    raise compute_response_error(resp, "gateway")


def _parse_retry_after(resp: httpx.Response) -> float | None:
    """Return the answer's ``Retry-After`` seconds, ``None`` unless ASCII digits only
    (``str.isdigit`` alone takes ``²``, which ``float`` refuses)."""
    value = resp.headers.get("retry-after", "")
    return float(value) if value.isascii() and value.isdigit() else None


class CarUploader:
    """Sends a home's pending batches in order, one at a time, each durably recorded."""

    def __init__(
        self,
        home: CarHome,
        policy: RetryPolicy = RetryPolicy(),
        *,
        on_event: Callable[[UploadEvent], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout_s: float = 30.0,
    ) -> None:
        self.home = home
        self.policy = policy
        self.on_event = on_event or (lambda _e: None)
        self.sleep = sleep
        self.timeout_s = timeout_s

    def send_pending(self) -> SendReport:
        """Send every pending batch; stop at the first that cannot be sent (its error)."""
        report = SendReport()
        url = self.home.config.gateway
        with httpx.Client(base_url=url, timeout=self.timeout_s, verify=get_ssl_context()) as http:
            for entry in get_pending(self.home):
                self._send_one(http, entry, report)
        return report

    def _send_one(self, http: httpx.Client, entry: BatchEntry, report: SendReport) -> None:
        body = self.home.read_batch(entry)
        for attempt in range(1, self.policy.attempts + 1):
            entry.attempts += 1
            self.home.save()  # counted before it is made: see the module docstring
            try:
                post_batch(http, body)
            except _Transient as exc:
                entry.last_error = exc.reason
                if attempt == self.policy.attempts:
                    self.home.save()
                    raise self._unreachable(entry, exc.reason) from None
                delay = self.policy.compute_delay_s(attempt, exc.retry_after_s)
                report.retries += 1
                self.on_event(UploadEvent("retry", entry, attempt, delay, exc.reason))
                self.sleep(delay)
                continue
            except CarchainError as exc:
                if exc.code == "replayed_batch" and entry.attempts > 1:
                    self._mark_sent(entry, report, "stored_already")
                    report.stored_already += 1
                    return
                entry.last_error = f"{exc.code}: {exc.message}"
                self.home.save()
                raise CarUploadRefused(
                    f"the gateway refused batch {entry.epoch}-{entry.seq}: "
                    f"{exc.code}: {exc.message}",
                    reason=exc.code,
                    epoch=entry.epoch,
                    seq=entry.seq,
                ) from None
            self._mark_sent(entry, report, "sent")
            return

    def _mark_sent(self, entry: BatchEntry, report: SendReport, kind: str) -> None:
        entry.status, entry.sent_ms, entry.last_error = SENT, int(time.time() * 1000), ""
        self.home.save()
        report.sent.append(entry)
        self.on_event(UploadEvent(kind, entry))

    def _unreachable(self, entry: BatchEntry, reason: str) -> GatewayUnreachable:
        url = self.home.config.gateway
        return GatewayUnreachable(
            f"the gateway at {url} did not take batch {entry.epoch}-{entry.seq} after "
            f"{self.policy.attempts} attempts ({reason}); it stays pending, run send again",
            attempts=self.policy.attempts,
            gateway=url,
            reason=reason,
        )
