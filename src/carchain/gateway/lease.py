"""The anchoring lease: which of an OEM's gateway instances anchors and runs custody.

Several gateway instances of one OEM share a data folder (blob stores, journal) and
ingest side by side; exactly one of them, the lease holder, runs the anchoring and
custody loops. The lease is a row of the shared journal (``leases``): holder id,
epoch, expiry in wall-clock milliseconds. It is taken and renewed in ``BEGIN
IMMEDIATE`` transactions, so at most one instance holds it at a time:

- ``acquire_lease``: take a free or expired lease; the epoch goes up by one.
- ``renew_lease``: push the expiry on, only for the same holder and epoch. A holder
  whose lease expired and was taken by another instance can no longer renew it.
- ``check_fence``: the fencing token. Every journal write of the anchorer names the
  ``Fence`` (holder, epoch) it was made under and is refused (``LeaseLost``) in its
  own transaction unless that fence still holds the lease, unexpired.

The instance keeps its own belief of holding the lease on the monotonic clock
(``LeaseKeeper.current``): it ends a margin before the expiry other instances
compare with their wall clock, so a wall-clock jump forward makes the lease look
expired sooner (another instance takes it; the old holder's writes are fenced) and a
jump back only delays a takeover.

What the fence does not cover: a holder that checked its fence and then paused (a
stop, a swap storm) may still send, after it lost the lease, transaction bytes it
read from the journal. Those are the bytes of an anchor row built under its epoch,
which the new holder settles too (``anchoring``); the chain accepts each anchor
sequence number once, so at most one of the copies commits, with the same body and
batches: nothing is anchored twice, no sequence number is skipped. Its signatures
may take a nonce the new holder wanted: the new holder re-signs (``InvalidNonce``).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass

from carchain.errors import LeaseLost

log = logging.getLogger("carchain.gateway.lease")
ANCHORING = "anchoring"  # the one lease a gateway journal holds today
DEFAULT_LEASE_TTL_S = 5.0

LEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Fence:
    """A lease as one holder took it: who, and its epoch (the fencing token)."""

    holder: str
    epoch: int


@dataclass(frozen=True, slots=True)
class LeaseState:
    """The lease row as the journal holds it."""

    holder: str
    epoch: int
    expires_ms: int

    def is_held_at(self, now_ms: int) -> bool:
        """Return whether the lease is unexpired at ``now_ms``."""
        return self.expires_ms > now_ms


def get_lease_optional(conn: sqlite3.Connection, name: str = ANCHORING) -> LeaseState | None:
    """Return the lease row ``name``, or ``None`` if nobody ever took it."""
    row = conn.execute(
        "SELECT holder, epoch, expires_ms FROM leases WHERE name = ?", (name,)
    ).fetchone()
    return None if row is None else LeaseState(str(row[0]), int(row[1]), int(row[2]))


def acquire_lease(
    conn: sqlite3.Connection, holder: str, now_ms: int, ttl_ms: int, name: str = ANCHORING
) -> Fence | None:
    """Take lease ``name`` for ``holder`` if nobody holds it (never taken, or expired);
    return its fence with the next epoch, or ``None`` if it is held (by anyone, this
    holder too: a second process with the same id must not share it). The caller runs
    this inside a write transaction."""
    if ttl_ms < 1:
        raise ValueError("a lease lasts at least 1 ms")
    state = get_lease_optional(conn, name)
    if state is not None and state.is_held_at(now_ms):
        return None
    epoch = 1 if state is None else state.epoch + 1
    conn.execute(
        "INSERT INTO leases (name, holder, epoch, expires_ms) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, epoch = excluded.epoch, "
        "expires_ms = excluded.expires_ms",
        (name, holder, epoch, now_ms + ttl_ms),
    )
    return Fence(holder, epoch)


def renew_lease(
    conn: sqlite3.Connection, fence: Fence, now_ms: int, ttl_ms: int, name: str = ANCHORING
) -> bool:
    """Push the expiry of the lease ``fence`` holds to ``now_ms + ttl_ms``; return
    ``False`` (and change nothing) if another holder or epoch has it. A lease that
    expired but that nobody took is still this fence's: renewing it is safe."""
    cur = conn.execute(
        "UPDATE leases SET expires_ms = ? WHERE name = ? AND holder = ? AND epoch = ?",
        (now_ms + ttl_ms, name, fence.holder, fence.epoch),
    )
    return cur.rowcount == 1


def give_up_lease(conn: sqlite3.Connection, fence: Fence, name: str = ANCHORING) -> None:
    """Expire the lease now if ``fence`` holds it (a clean stop: no wait for a successor)."""
    conn.execute(
        "UPDATE leases SET expires_ms = 0 WHERE name = ? AND holder = ? AND epoch = ?",
        (name, fence.holder, fence.epoch),
    )


def check_fence(conn: sqlite3.Connection, fence: Fence, now_ms: int, name: str = ANCHORING) -> None:
    """Raise ``LeaseLost`` unless ``fence`` holds lease ``name``, unexpired at ``now_ms``
    (called inside the transaction of the write it guards)."""
    state = get_lease_optional(conn, name)
    if (
        state is None
        or (state.holder, state.epoch) != (fence.holder, fence.epoch)
        or not state.is_held_at(now_ms)
    ):
        raise LeaseLost(
            "this gateway instance no longer holds the anchoring lease",
            holder=None if state is None else state.holder,
            epoch=None if state is None else state.epoch,
        )


def now_ms() -> int:
    """Return the wall clock in milliseconds (what lease expiries are compared with)."""
    return int(time.time() * 1000)
