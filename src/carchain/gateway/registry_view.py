"""The gateway's view of the vehicle registry: committed records kept in memory,
changed only by the chain's own vehicle events.

A record is read from the node once (on first use) and then answered from memory
until a ``vehicle_*`` event of a later block names the vehicle (``VEHICLE_EVENT_TYPES``:
every transaction that writes a vehicle record or its owner history emits one), so
the cost of a lookup does not depend on how often a car uploads. Past ownership
periods never change and are kept once read.

Freshness, without a call per batch: the view *syncs* (one ``GET /status``; when the
node's height moved, one ``GET /events`` of the vehicle events since the last sync)
at most every ``sync_interval_s``, and only when a lookup needs it. A batch is
checked against a view whose last sync began after the batch was complete (or,
``strict``, after its upload arrived), so every transfer, key rotation and
revocation committed before then is seen: a revocation takes effect at the block
that commits it. Many uploads share each sync; under load the syncs cost a few
requests a second whatever the number of cars.

A record read from the node at height ``R`` is kept only if no event after ``R`` may
already have been applied (``R >= seen``): an event of a later block then still
finds it and drops it, so no stale record outlives its change.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
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
from carchain.errors import NodeUnavailable, NotFound
from carchain.sdk.events import StreamEvent

DEFAULT_CAPACITY = 1_000_000
DEFAULT_SYNC_INTERVAL_S = 0.02
DEFAULT_WAIT_S = 10.0


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
        """Yield the committed blocks' events of ``types`` from ``from_height`` on."""


def now_us() -> int:
    """Return wall time in microseconds (the unit of sync times)."""
    return time.time_ns() // 1000


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
        capacity: int = DEFAULT_CAPACITY,
        sync_interval_s: float = DEFAULT_SYNC_INTERVAL_S,
        wait_s: float = DEFAULT_WAIT_S,
        clock: Callable[[], int] = now_us,
    ) -> None:
        self.client = client
        self.capacity = capacity
        self.sync_interval_s = sync_interval_s
        self.wait_s = wait_s
        self.strict = False  # sync after every upload's arrival, not after its batch's end
        self._clock = clock
        self._cond = threading.Condition()
        self._vehicles: OrderedDict[str, Vehicle] = OrderedDict()
        self._immutable: OrderedDict[bytes, bytes] = OrderedDict()
        self._syncing = False
        self._started = False  # the first sync takes the height and applies no events
        self._last_sync_start = float("-inf")  # monotonic seconds
        self.height = 0  # every vehicle event up to this height is applied
        self.seen = 0  # no event above this height has been applied
        self.synced_us = -1  # the last completed sync began at this wall time (-1: none yet)
        self.counts = {"hits": 0, "reads": 0, "syncs": 0, "dropped": 0}

    # --- lookups ---------------------------------------------------------------

    def get_vehicle(self, vehicle_id: str, not_before_ms: int = 0) -> Vehicle:
        """Return the committed vehicle record, as of a sync that began after
        ``not_before_ms`` (or now, if earlier; after now when ``strict``); ``NotFound``."""
        now = self._clock()
        need = now if self.strict else max(0, min((not_before_ms + 1) * 1000, now))
        self.wait_synced_after(need)
        with self._cond:
            hit = self._vehicles.get(vehicle_id)
            if hit is not None:
                self._vehicles.move_to_end(vehicle_id)
                self.counts["hits"] += 1
                return hit
        return self._read_vehicle(vehicle_id)

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
            hit = self._immutable.get(key) if store == STORE else None
        if hit is not None:
            return hit
        try:
            doc = self.client.query(store, key)
        except NotFound:
            return None
        value = bytes.fromhex(doc["value"])
        with self._cond:
            self._immutable[key] = value
            while len(self._immutable) > self.capacity:
                self._immutable.popitem(last=False)
        return value

    def _read_vehicle(self, vehicle_id: str) -> Vehicle:
        """Read a record from the node and keep it if no later event can have passed it."""
        doc = self.client.query(STORE, compute_vehicle_key(vehicle_id))  # NotFound: not kept
        vehicle = decode_vehicle(bytes.fromhex(doc["value"]))
        with self._cond:
            self.counts["reads"] += 1
            if int(doc["height"]) >= self.seen:
                self._vehicles[vehicle_id] = vehicle
                while len(self._vehicles) > self.capacity:
                    self._vehicles.popitem(last=False)
        return vehicle

    # --- following the chain ------------------------------------------------------

    def wait_synced_after(self, need_us: int) -> None:
        """Return once a sync that began at or after ``need_us`` has completed: run it
        here if none is running and the last began ``sync_interval_s`` ago, else wait
        for the one that is; ``NodeUnavailable`` after ``wait_s``."""
        deadline = time.monotonic() + self.wait_s
        while True:
            with self._cond:
                if self.synced_us >= need_us:
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
        the blocks since the last sync (the first sync only takes the height)."""
        began = self._clock()
        tip = int(self.client.status()["height"])
        if self._started and tip > self.height:
            start = self.height + 1
            for event in self.client.events(VEHICLE_EVENT_TYPES, from_height=start, follow=False):
                self.apply_event(event.height, event.attributes.get("vehicle_id", ""))
        with self._cond:
            self._started = True
            self.height = max(self.height, tip)
            self.seen = max(self.seen, self.height)
            self.synced_us = max(self.synced_us, began)
            self.counts["syncs"] += 1

    def apply_event(self, height: int, vehicle_id: str) -> None:
        """Apply one vehicle event of block ``height``: forget the vehicle's record."""
        with self._cond:
            self.seen = max(self.seen, height)
            if self._vehicles.pop(vehicle_id, None) is not None:
                self.counts["dropped"] += 1

    def wait_for_height(self, height: int) -> None:
        """Return once the view has applied every vehicle event up to ``height``."""
        deadline = time.monotonic() + self.wait_s
        while self.height < height:
            self.wait_synced_after(self._clock())
            if time.monotonic() > deadline and self.height < height:
                raise NodeUnavailable(f"the node has not reached height {height}")

    def to_dict(self) -> dict[str, object]:
        """Return the status fields of the view (flat, for ``gateway status``)."""
        with self._cond:
            return {
                "registry_height": self.height,
                "registry_cached": len(self._vehicles),
                "registry_hits": self.counts["hits"],
                "registry_reads": self.counts["reads"],
                "registry_syncs": self.counts["syncs"],
            }
