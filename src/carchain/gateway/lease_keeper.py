"""Holding the anchoring lease from one gateway instance (``LeaseKeeper``).

The keeper takes the lease when it is free and renews it while it holds it, every
third of its time to live, in a thread of its own: a long anchoring step (a commit
wait) does not let it lapse, and a process that is killed stops renewing it, so
another instance takes it once it expires. ``current`` returns the fence only while
the instance's own (monotonic) reckoning says the lease holds, a margin before its
expiry; the journal's fenced writes are what enforce it (``lease.check_fence``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

from carchain.gateway.journal import Journal
from carchain.gateway.lease import DEFAULT_LEASE_TTL_S, Fence, now_ms

log = logging.getLogger("carchain.gateway.lease")
_MARGIN = 0.2  # the holder stops believing it holds the lease after 80% of its time


def make_instance_id() -> str:
    """Return an id for an instance that was given none: host, pid and a random tag."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class LeaseKeeper:
    """Takes and renews the anchoring lease for ``holder`` (``tick``, or ``start``)."""

    def __init__(
        self,
        journal: Journal,
        holder: str,
        ttl_s: float = DEFAULT_LEASE_TTL_S,
        *,
        wall_ms: Callable[[], int] = now_ms,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("a lease lasts more than 0 s")
        if not holder:
            raise ValueError("a lease holder has an id")
        self.journal, self.holder, self.ttl_s = journal, holder, ttl_s
        self._wall_ms, self._monotonic = wall_ms, monotonic
        self._fence: Fence | None = None
        self._valid_until = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ttl_ms(self) -> int:
        """The lease's time to live in milliseconds."""
        return max(1, int(self.ttl_s * 1000))

    def tick(self) -> Fence | None:
        """Renew the lease held, or take it if free; return the fence now held, if any."""
        started = self._monotonic()
        with self._lock:
            fence = self._fence
        if fence is not None and not self.journal.renew_lease(fence, self._wall_ms(), self.ttl_ms):
            log.warning("anchoring lease epoch %d lost to another instance", fence.epoch)
            fence = None
        if fence is None:
            fence = self.journal.acquire_lease(self.holder, self._wall_ms(), self.ttl_ms)
            if fence is not None:
                log.info("anchoring lease taken: epoch %d", fence.epoch)
        with self._lock:
            self._fence = fence
            self._valid_until = started + self.ttl_s * (1 - _MARGIN) if fence else 0.0
        return fence

    def current(self) -> Fence | None:
        """Return the fence this instance holds by its own reckoning, or ``None``."""
        with self._lock:
            if self._fence is not None and self._monotonic() < self._valid_until:
                return self._fence
            return None

    def start(self) -> None:
        """Tick now and then every third of the lease's time, in a background thread."""
        self._thread = threading.Thread(target=self._run, name="carchain-lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # a busy or failing journal: we hold nothing until it works
                log.warning("anchoring lease tick failed: %s", type(exc).__name__)
                with self._lock:
                    self._valid_until = 0.0
            self._stop.wait(self.ttl_s / 3)

    def stop(self) -> None:
        """Stop renewing and give the lease up, so another instance takes it at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        with self._lock:
            fence, self._fence, self._valid_until = self._fence, None, 0.0
        if fence is not None:
            self.journal.give_up_lease(fence)
