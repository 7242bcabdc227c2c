"""Group commit: the uploads of concurrent requests stored together, one flush for all.

Each request checks its uploads on its own thread, then hands them to the
``GroupCommitter`` and waits. If no store is running, its thread becomes the leader:
it takes every group queued so far (its own among them, up to ``max_uploads``) and
stores them as one (``store``: one pass of blob writes, one journal transaction, one
flush of each). Groups that arrive meanwhile queue up and go together in the next
store, whose leader is the first of them to wake. Nothing waits for a timer: alone,
a request is stored at once; under load, a store takes everything that arrived while
the previous one was flushing, so the flushes per batch fall as the load grows.

A request gets its answers only once the store that carried its uploads returned:
an acknowledged batch is durable. A store that raises fails every request of its
group with that exception (none of them is acknowledged) and the committer goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from carchain.errors import CarchainError, NodeUnavailable, make_error

In = TypeVar("In")
Out = TypeVar("Out")
MAX_UPLOADS = 2048  # a store's uploads at most (one journal transaction)


@dataclass(eq=False, slots=True)
class _Ticket(Generic[In, Out]):
    items: Sequence[In]
    done: bool = False
    results: list[Out] = field(default_factory=list)
    error: BaseException | None = None


class GroupCommitter(Generic[In, Out]):
    """Runs ``store`` over the items of concurrent ``submit`` calls together; ``store``
    returns one result per item, in order."""

    def __init__(
        self, store: Callable[[Sequence[In]], list[Out]], max_uploads: int = MAX_UPLOADS
    ) -> None:
        self._store = store
        self.max_uploads = max_uploads
        self._cond = threading.Condition()
        self._queue: list[_Ticket[In, Out]] = []
        self._busy = False
        self.stores = 0  # how many stores ran (for status and benchmarks)

    def submit(self, items: Sequence[In]) -> list[Out]:
        """Store ``items`` with whatever else is queued; return their results in order,
        or raise what the store that carried them raised."""
        ticket: _Ticket[In, Out] = _Ticket(items)
        with self._cond:
            self._queue.append(ticket)
        while True:  # a leader stores the oldest groups first: maybe not its own yet
            with self._cond:
                while not ticket.done and self._busy:
                    self._cond.wait()
                if ticket.done:
                    break
                self._busy = True
                group = self._take_group()
            self._run(group, ticket)
        if ticket.error is not None:
            raise ticket.error
        return ticket.results

    def queued(self) -> int:
        """Return how many requests wait for a store."""
        with self._cond:
            return len(self._queue)

    def _take_group(self) -> list[_Ticket[In, Out]]:
        """Take queued tickets, oldest first, up to ``max_uploads`` items (at least one)."""
        count, taken = 0, 0
        for ticket in self._queue:
            if taken and count + len(ticket.items) > self.max_uploads:
                break
            count += len(ticket.items)
            taken += 1
        group, self._queue = self._queue[:taken], self._queue[taken:]
        return group

    def _run(self, group: list[_Ticket[In, Out]], own: _Ticket[In, Out]) -> None:
        """Store ``group`` as one, hand each ticket its results, let the next leader on.

        If the store raises, the leader's own request gets the exception and every
        other request of the group an error of its own (a copy, or ``NodeUnavailable``):
        one exception object raised in many threads would grow one traceback in all. An
        interrupt (not an ``Exception``) goes on in the leader's thread."""
        try:
            items = [item for t in group for item in t.items]
            results = self._store(items)
            if len(results) != len(items):
                raise NodeUnavailable(f"the store answered {len(results)} of {len(items)}")
            at = 0
            for ticket in group:
                ticket.results = results[at : at + len(ticket.items)]
                at += len(ticket.items)
        except BaseException as exc:  # every request of the group fails as the store did
            for ticket in group:
                ticket.error = exc if ticket is own else _copy_failure(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            with self._cond:
                self.stores += 1
                for ticket in group:
                    ticket.done = True
                self._busy = False
                self._cond.notify_all()


def _copy_failure(exc: BaseException) -> BaseException:
    """Return an error of its own for a request whose group's store raised ``exc``."""
    if isinstance(exc, CarchainError):
        return make_error(exc.code, exc.message, exc.to_json_fields())
    return NodeUnavailable(f"the store of this upload's group failed: {type(exc).__name__}")
