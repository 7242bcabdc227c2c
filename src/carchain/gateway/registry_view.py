"""The gateway's view of the vehicle registry: committed records kept in memory,
changed only by the chain's own vehicle events.

A record is read from the node once (on first use) and then answered from memory
until a ``vehicle_*`` event of a later block names the vehicle (``VEHICLE_EVENT_TYPES``:
every transaction that writes a vehicle record or its owner history emits one), so
the cost of a lookup does not depend on how often a car uploads. Past ownership
periods never change and are kept once read.

Freshness, without a call per batch: the view *syncs* (one ``GET /status``; when the
node's height moved, one ``GET /events?follow=false`` of the vehicle events since the
last sync, complete only when the node ends it with its ``end`` frame) at most every
``sync_interval_s``, and only when a lookup needs it. A batch is checked against a
view whose last sync began after the batch was complete, and at most ``max_lag_s``
before the upload arrived (``strict``: after it arrived), so every transfer, key
rotation and revocation committed before the batch ended is seen, and none is
missed by an upload arriving ``max_lag_s`` after its block. Many uploads share each
sync; under load the syncs cost a few requests a second whatever the number of cars.
Sync times are on the monotonic clock: a step of the wall clock moves only the one
batch's "ended this long ago".

A record read from the node at height ``R`` is kept only if no event after ``R`` may
already have been applied (``R >= seen``): an event of a later block then still
finds it and drops it, so no stale record outlives its change. A read answered
below the synced height (a lagging node) is refused (``NodeUnavailable``).

The view *resets* (forgets every record, takes the node's height) when it cannot
replay cheaply or safely: the node's height went down (a replaced or restored
node), the gap is longer than ``MAX_REPLAY_BLOCKS``, or the event stream failed or
was refused. Forgetting is always correct: every record is then read again.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Protocol

from carchain.core.state import ReadOnlyKVView
from carchain.core.vehicles import (
    STORE,
    VEHICLE_EVENT_TYPES,
    OwnerPeriod,
    Vehicle,
    compute_vehicle_key,
    decode_vehicle,
    get_current_owner_period,
    get_first_owner_period,
    get_owner_period_of,
)
from carchain.errors import CarchainError, NodeUnavailable, NotFound
from carchain.sdk.events import StreamEvent

DEFAULT_CAPACITY = 1_000_000
DEFAULT_SYNC_INTERVAL_S = 0.02
DEFAULT_MAX_LAG_S = 1.0
DEFAULT_WAIT_S = 10.0
MAX_REPLAY_BLOCKS = 1000  # a longer gap is not replayed: the view resets


class NodeReads(Protocol):
    """What the view reads from a node (``sdk.client.Client`` has these)."""

    def status(self) -> dict[str, Any]:
        """Return the node status (``height``: the committed height)."""

    def query(self, store: str, key: bytes, prove: bool = False, height: int = 0) -> dict[str, Any]:
        """Return the query document (``value`` hex, ``height``); ``NotFound`` if absent."""

    def events(
        self,
        types: Iterable[str] = (),
        vehicle: str = "",
        member: str = "",
        from_height: int | None = None,
        follow: bool = True,
    ) -> Iterable[StreamEvent]:
        """Yield the committed blocks' events of ``types`` from ``from_height`` on,
        complete (``follow=False``: to the committed height) or raise."""


class _PeriodView(ReadOnlyKVView):
    """Reads of past ownership periods through the view's cache (immutable records)."""

    def __init__(self, registry: RegistryView) -> None:
        self.registry = registry

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return a committed value, from the cache when it is a past ownership period."""
        return self.registry.get_immutable(store, key)


class RegistryView:
    """The vehicle registry as of the node's committed blocks (see the module doc)."""

    def __init__(
        self,
        client: NodeReads,
        *,
        oem: str = "",
        capacity: int = DEFAULT_CAPACITY,
        sync_interval_s: float = DEFAULT_SYNC_INTERVAL_S,
        max_lag_s: float = DEFAULT_MAX_LAG_S,
        wait_s: float = DEFAULT_WAIT_S,
    ) -> None:
        self.client = client
        self.oem = oem  # only this OEM's records are kept ("": every OEM's)
        self.capacity = capacity
        self.sync_interval_s = sync_interval_s
        self.max_lag_s = max_lag_s
        self.wait_s = wait_s
        self.strict = False  # every upload waits for a sync begun after it arrived
        self._cond = threading.Condition()
        self._vehicles: OrderedDict[str, Vehicle] = OrderedDict()
        self._immutable: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
        self._syncing = False
        self._started = False  # the first sync (and a reset) takes the height, no events
        self._generation = 0  # bumped by a reset: a read begun before it is not kept
        self._last_sync_start = float("-inf")  # monotonic seconds
        self.height = 0  # every vehicle event up to this height is applied
        self.seen = 0  # no event above this height has been applied
        self.synced = float("-inf")  # the last completed sync began then (monotonic s)
        self.counts = {"hits": 0, "reads": 0, "syncs": 0, "dropped": 0, "resets": 0}

    # --- lookups ---------------------------------------------------------------

    def get_vehicle(self, vehicle_id: str, not_before_ms: int = 0) -> Vehicle:
        """Return the committed vehicle record, as of a sync that began after the batch
        ended at ``not_before_ms`` and at most ``max_lag_s`` ago; ``NotFound``."""
        self.wait_synced_after(self.compute_need(not_before_ms))
        with self._cond:
            hit = self._vehicles.get(vehicle_id)
            if hit is not None:
                self._vehicles.move_to_end(vehicle_id)
                self.counts["hits"] += 1
                return hit
        return self._read_vehicle(vehicle_id)

    def compute_need(self, not_before_ms: int) -> float:
        """Return the monotonic time a sync must have begun at to serve a batch that
        ended at wall time ``not_before_ms`` (now, if it ends in the future)."""
        now = time.monotonic()
        if self.strict:
            return now
        ended_ago_s = max(0.0, time.time() - (not_before_ms + 1) / 1000)
        return now - min(ended_ago_s, self.max_lag_s)

    def get_owner_period(self, vehicle: Vehicle, time_ms: int) -> OwnerPeriod:
        """Return the ownership period holding ``time_ms`` (times before the
        registration: the first owner's); past periods come from the cache."""
        if time_ms >= vehicle.owner_since_ms:
            return get_current_owner_period(vehicle)
        view = _PeriodView(self)
        try:
            return get_owner_period_of(view, vehicle, time_ms)
        except NotFound:
            return get_first_owner_period(view, vehicle)

    def get_immutable(self, store: str, key: bytes) -> bytes | None:
        """Return a record that never changes once written (a past ownership period)."""
        with self._cond:
            hit = self._immutable.get((store, key))
            if hit is not None:
                self._immutable.move_to_end((store, key))
                return hit
            generation = self._generation
        try:
            doc = self.client.query(store, key)
        except NotFound:
            return None
        value = bytes.fromhex(doc["value"])
        with self._cond:
            if generation == self._generation:
                self._immutable[(store, key)] = value
                while len(self._immutable) > self.capacity:
                    self._immutable.popitem(last=False)
        return value

    def _read_vehicle(self, vehicle_id: str) -> Vehicle:
        """Read a record from the node; keep it if no later event can have passed it."""
        with self._cond:
            generation, synced_height = self._generation, self.height
        doc = self.client.query(STORE, compute_vehicle_key(vehicle_id))  # NotFound: not kept
        vehicle = decode_vehicle(bytes.fromhex(doc["value"]))
        read_height = int(doc["height"])
        if read_height < synced_height:
            raise NodeUnavailable("the node answered from below the registry view's height")
        with self._cond:
            self.counts["reads"] += 1
            keep = generation == self._generation and read_height >= self.seen
            if keep and (not self.oem or vehicle.oem == self.oem):
                self._vehicles[vehicle_id] = vehicle
                self._vehicles.move_to_end(vehicle_id)
                while len(self._vehicles) > self.capacity:
                    self._vehicles.popitem(last=False)
        return vehicle

    # --- following the chain ------------------------------------------------------

    def wait_synced_after(self, need: float) -> None:
        """Return once a sync that began at or after monotonic time ``need`` has
        completed: run it here if none is running and the last began
        ``sync_interval_s`` ago, else wait for the one that is; ``NodeUnavailable``
        after ``wait_s``."""
        deadline = time.monotonic() + self.wait_s
        while True:
            with self._cond:
                if self.synced >= need:
                    return
                if not self._may_start_sync():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise NodeUnavailable("the gateway's registry view cannot follow the node")
                    self._cond.wait(min(left, max(self.sync_interval_s, 0.001)))
                    continue
                self._syncing, self._last_sync_start = True, time.monotonic()
            try:
                self.sync()
            finally:
                with self._cond:
                    self._syncing = False
                    self._cond.notify_all()

    def _may_start_sync(self) -> bool:
        """Return whether this caller may start a sync now (the lock is held)."""
        due = time.monotonic() - self._last_sync_start >= self.sync_interval_s
        return not self._syncing and (due or self.strict)

    def sync(self) -> None:
        """Bring the view to the node's committed height: apply the vehicle events of
        the blocks since the last sync, or reset (see the module doc)."""
        began = time.monotonic()
        tip = self._read_tip()
        with self._cond:
            start, started = self.height + 1, self._started
        if not started or tip < start - 1 or tip - start >= MAX_REPLAY_BLOCKS:
            self.reset(tip)
        elif tip >= start:
            try:
                for event in self.client.events(
                    VEHICLE_EVENT_TYPES, from_height=start, follow=False
                ):
                    self.apply_event(event.height, event.attributes.get("vehicle_id", ""))
            except CarchainError:  # refused (a busy node) or cut off: forget, do not guess
                self.reset(tip)
        with self._cond:
            self.height = max(self.height, tip)
            self.seen = max(self.seen, self.height)
            self.synced = began
            self.counts["syncs"] += 1

    def _read_tip(self) -> int:
        """Return the node's committed height (``NodeUnavailable`` if it gives none)."""
        height = self.client.status().get("height")
        if isinstance(height, bool) or not isinstance(height, int) or height < 0:
            raise NodeUnavailable("the node's status names no committed height")
        return height

    def reset(self, tip: int) -> None:
        """Forget every record and take ``tip`` as the height (a read begun before this
        is not kept): the view's fresh start."""
        with self._cond:
            self._vehicles.clear()
            self._immutable.clear()
            self._generation += 1
            self._started = True
            self.height = self.seen = tip
            self.counts["resets"] += 1

    def apply_event(self, height: int, vehicle_id: str) -> None:
        """Apply one vehicle event of block ``height``: forget the vehicle's record."""
        with self._cond:
            self.seen = max(self.seen, height)
            if self._vehicles.pop(vehicle_id, None) is not None:
                self.counts["dropped"] += 1

    def to_dict(self) -> dict[str, object]:
        """Return the status fields of the view (flat, for ``gateway status``)."""
        with self._cond:
            return {
                "registry_height": self.height,
                "registry_cached": len(self._vehicles),
                "registry_hits": self.counts["hits"],
                "registry_reads": self.counts["reads"],
                "registry_syncs": self.counts["syncs"],
                "registry_resets": self.counts["resets"],
            }
