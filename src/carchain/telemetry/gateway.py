"""A gateway's metrics: batches received, anchors submitted, anchoring lag."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
MAX_TRACKED = 1_000_000  # accept times kept for the lag; older ones are forgotten
OK_RESULT = "ok"


class GatewayMetrics:
    """The gateway's own metrics in their own registry.

    The anchoring lag is measured from a batch's acceptance by this process to the
    commit of the anchor that covers it. Anchors cover batches oldest first, so the
    accept times are a queue: an anchor of ``n`` batches takes the ``n`` oldest.
    Batches accepted before a restart have no accept time and are not measured.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.clock = clock
        self.batches = Counter(
            "carchain_gateway_batches_received",
            "Batch uploads received, by result (ok or error code).",
            ["result"],
            registry=r,
        )
        self.anchors = Counter(
            "carchain_gateway_anchors_submitted",
            "Anchor transactions this gateway submitted that were committed.",
            registry=r,
        )
        self.anchored_batches = Counter(
            "carchain_gateway_anchored_batches", "Batches covered by committed anchors.",
            registry=r,
        )  # fmt: skip
        self.lag = Histogram(
            "carchain_gateway_anchoring_lag_seconds",
            "Time from accepting a batch to the commit of the anchor covering it "
            "(the oldest batch of each anchor).",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.oldest_unanchored_age = Gauge(
            "carchain_gateway_oldest_unanchored_age_seconds",
            "Age of the oldest batch accepted by this process and not yet anchored (0: none).",
            registry=r,
        )
        self.oldest_unanchored_age.set_function(self.compute_oldest_age)
        self.unanchored = Gauge(
            "carchain_gateway_unanchored_batches", "Accepted batches not anchored on chain yet.",
            registry=r,
        )  # fmt: skip
        self._accepted: deque[float] = deque(maxlen=MAX_TRACKED)
        self._lock = threading.Lock()

    def record_batch(self, error_code: str) -> None:
        """Count one upload (``error_code`` empty: accepted, its lag clock starts)."""
        self.batches.labels(result=error_code or OK_RESULT).inc()
        if not error_code:
            with self._lock:
                self._accepted.append(self.clock())

    def record_anchor(self, batch_count: int) -> None:
        """Count one committed anchor of ``batch_count`` batches and observe its lag."""
        self.anchors.inc()
        self.anchored_batches.inc(batch_count)
        now = self.clock()
        with self._lock:
            taken = [self._accepted.popleft() for _ in range(min(batch_count, len(self._accepted)))]
        if taken:
            self.lag.observe(max(0.0, now - taken[0]))

    def compute_oldest_age(self) -> float:
        """Return the age of the oldest accepted batch not anchored yet (0 if none)."""
        with self._lock:
            oldest = self._accepted[0] if self._accepted else None
        return 0.0 if oldest is None else max(0.0, self.clock() - oldest)
