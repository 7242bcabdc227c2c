"""The custody service: the OEM custodian's work, run as a loop inside the gateway process.

Each round (``CustodyService.step``) reads the new events of the OEM's access
log on chain from the cursor in the gateway journal (``custody_journal``):
every ``approved`` request becomes a release task, every ``erasure_request`` an
erasure task. Then it works the open tasks, oldest first:

- release (``custody_release``): non-sensitive categories only; the package is
  sealed to the requester, stored under ``releases/`` and ``access.release`` is
  posted with the OEM key. A request with a sensitive category is left to the
  owner (``owner_only``); one the chain refuses (grant withdrawn or expired) is
  recorded ``refused`` and not retried, and its package is dropped.
- erasure (``custody_erasure``): the scope's key envelopes are destroyed and
  ``erasure.complete`` posted with the tombstone; under a legal hold the task
  waits and is tried again every round until the hold is lifted.

The loop needs the custodian's signing key (``gateway init --custodian-key-file``);
without it the service is off and ``status`` says so. Transient failures (node
down, a nonce taken) back off like the anchoring loop and show in ``status``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Literal

import msgspec

from carchain.core.access_log import EventKind, get_oem_log_size
from carchain.crypto.signing import SigningKey
from carchain.errors import CarchainError, InvalidNonce, NodeUnavailable, TransportError
from carchain.gateway.custody_erasure import ErasureContext, process_erasure_task
from carchain.gateway.custody_journal import (
    ERASURE,
    RELEASE,
    CustodyJournal,
    CustodyTask,
)
from carchain.gateway.custody_release import ReleaseContext, process_release_task
from carchain.gateway.ingest import Ingestor
from carchain.gateway.journal import Journal
from carchain.sdk.account import Account
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.storage.blobstore import BlobStore

log = logging.getLogger("carchain.gateway.custody")
PAGE = 100
TASKS_PER_STEP = 50
_TASK_OF_EVENT = {EventKind.APPROVED.value: RELEASE, EventKind.ERASURE_REQUEST.value: ERASURE}


class LockedAccount(Account):
    """An account whose sends hold a lock shared with the anchoring loop (one OEM key,
    one nonce sequence: the two loops never sign with the same nonce)."""

    def __init__(
        self, client: Client, key: SigningKey, lock: AbstractContextManager[object]
    ) -> None:
        super().__init__(client, key)
        self.lock = lock

    def send(
        self, body: msgspec.Struct, mode: Literal["sync", "commit"] = "commit"
    ) -> dict[str, Any]:
        """Resync and send under the shared lock."""
        with self.lock:
            self.resync()
            return super().send(body, mode)


class CustodyService:
    """One OEM's custody work over the gateway's journal, stores and node."""

    def __init__(
        self,
        oem: str,
        custodian_key: SigningKey,
        account: Account,
        journal: Journal,
        custody: CustodyJournal,
        ingestor: Ingestor,
        stores: tuple[BlobStore, BlobStore, BlobStore],
    ) -> None:
        keys, releases, tombstones = stores
        self.oem = oem
        self.custody = custody
        self.client = account.client
        self.view = ChainView(account.client)
        self.release_ctx = ReleaseContext(
            self.view, account, journal, keys, releases, custodian_key
        )
        self.erasure_ctx = ErasureContext(self.view, account, journal, ingestor, tombstones)

    def process_new_events(self) -> int:
        """Turn the next page of the OEM's access log into tasks; return how many events.

        The log's size is one read; new events come as one proven page from the node
        (``GET /members/{oem}/access-log``), not a read per pointer and per event."""
        cursor = self.custody.get_cursor()
        if cursor >= get_oem_log_size(self.view, self.oem):
            return 0
        page = self.client.oem_access_log(self.oem, before=cursor + PAGE, limit=PAGE)
        top = min(cursor + PAGE, page.size)
        if top <= cursor:  # a page read at an older height than the size: next round
            return 0
        fresh = [
            (s, e) for s, e in zip(page.oem_seqs or [], page.events, strict=True) if s >= cursor
        ]
        if sorted(s for s, _ in fresh) != list(range(cursor, top)):
            raise NodeUnavailable("the node answered an OEM access-log page with a gap")
        tasks = [
            (_TASK_OF_EVENT[e.kind], e.vehicle_id, e.ref)
            for _, e in sorted(fresh, key=lambda p: p[0])
            if e.kind in _TASK_OF_EVENT
        ]
        self.custody.add_tasks_and_advance(tasks, top, cursor)
        return top - cursor

    def process_task(self, task: CustodyTask) -> None:
        """Work one task and record its new state."""
        if task.kind == RELEASE:
            state, detail = process_release_task(self.release_ctx, task.vehicle_id, task.seq)
        else:
            state, detail = process_erasure_task(self.erasure_ctx, task.vehicle_id, task.seq)
        if (state, detail) != (task.state, task.detail):
            log.info("custody %s %s #%d: %s", task.kind, task.vehicle_id, task.seq, state)
            self.custody.set_task_state(task, state, detail)

    def step(self) -> bool:
        """Read new events and work the open tasks; return whether any event was new.

        A node that does not answer (or a nonce taken) stops the round: the loop backs
        off. Any other error (typed, or a bug on one task's data) is recorded on its
        task, which stays open, and the round goes on: one bad task does not hold up
        the others, nor stops the loop's thread.
        """
        fresh = self.process_new_events()
        for task in self.custody.get_open_tasks(TASKS_PER_STEP):
            try:
                self.process_task(task)
            except (TransportError, InvalidNonce):
                raise
            except CarchainError as exc:
                log.warning("custody %s #%d failed: %s", task.kind, task.seq, exc.code)
                self.custody.set_task_state(task, task.state, f"error: {exc.code}")
            except Exception as exc:  # a bug on one task's data must not stop all custody
                name = type(exc).__name__  # the class only: a message may quote data
                log.error("custody %s #%d failed unexpectedly: %s", task.kind, task.seq, name)
                self.custody.set_task_state(task, task.state, f"error: {name}")
        return fresh > 0

    def to_dict(self) -> dict[str, object]:
        """Return the status fields of the service (flat)."""
        counts = self.custody.count_by_state()
        return {
            "custody_cursor": self.custody.get_cursor(),
            **{f"custody_{k.replace(':', '_')}": v for k, v in sorted(counts.items())},
        }


def compute_loop_failure(exc: Exception) -> CarchainError:
    """Return a background loop's failure as a typed error: itself, or for an unexpected
    exception ``internal`` naming only its class (its text may hold data: not logged)."""
    if isinstance(exc, CarchainError):
        return exc
    return CarchainError(f"unexpected {type(exc).__name__}")


def run_custody_loop(
    service: CustodyService, health: Any, stop: threading.Event, interval_s: float
) -> None:
    """Run ``service.step`` until ``stop`` is set, backing off on failures (``health``
    is an ``AnchoringHealth``-like recorder)."""
    run_step_loop(service.step, "custody", health, stop, interval_s)


def run_step_loop(
    step: Callable[[], bool], what: str, health: Any, stop: threading.Event, interval_s: float
) -> None:
    """Run ``step`` (True: it had work, go on) until ``stop`` is set; an exception is
    recorded on ``health`` by its code only and backed off, never the end of the thread."""
    while not stop.is_set():
        try:
            busy = step()
        except Exception as exc:
            failure = compute_loop_failure(exc)
            delay = health.record_failure(failure, int(time.time() * 1000), interval_s)
            log.warning("%s failed, retrying in %.1f s: %s", what, delay, failure.code)
            stop.wait(delay)
            continue
        health.record_success()
        if not busy:
            stop.wait(interval_s)
