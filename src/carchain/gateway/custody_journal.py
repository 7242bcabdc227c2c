"""The custody service's durable state in the gateway journal: a cursor and a task list.

The custody loop tails its OEM's access log on chain. Each page of events it
reads becomes tasks (a release to make for an ``approved`` event, an erasure to
carry out for an ``erasure_request``) and the cursor moves past the page, in
one SQLite transaction: after a crash the loop resumes from the cursor, no event
is read twice and none is skipped. A task is finished against the chain's state
(a release already on chain, an erasure already complete is not done again), so
a crash between a transaction and the task's update does nothing twice either.

The tables hold ids, sequence numbers, states and error codes: no personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from carchain.storage.database import SharedConnection

_SCHEMA = """
CREATE TABLE IF NOT EXISTS custody_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    next_oseq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS custody_tasks (
    kind TEXT NOT NULL,
    vehicle_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    added INTEGER NOT NULL,
    PRIMARY KEY (kind, vehicle_id, seq)
);
CREATE INDEX IF NOT EXISTS custody_open ON custody_tasks (state, added);
"""

RELEASE = "release"
ERASURE = "erasure"
# Task states: PENDING and WAITING are retried by the loop; the others are final.
PENDING = "pending"
WAITING = "waiting"  # e.g. an erasure under a legal hold, batches not anchored yet
RELEASED = "released"
ERASED = "erased"
OWNER_ONLY = "owner_only"  # a sensitive category: the owner releases, not the custodian
REFUSED = "refused"  # the chain refused (grant withdrawn, expired, ...): recorded, not retried
NOTHING = "nothing"  # no stored batch lies in the request's window
OPEN_STATES = (PENDING, WAITING)


@dataclass(frozen=True, slots=True)
class CustodyTask:
    """One thing the custody service must do for a vehicle's request or erasure."""

    kind: str
    vehicle_id: str
    seq: int
    state: str
    detail: str
    attempts: int


class CustodyJournal(SharedConnection):
    """The cursor and tasks, in the gateway's journal database (own connection, WAL)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)

    def get_cursor(self) -> int:
        """Return the OEM access-log seq of the next event to read (0 at first)."""
        with self._lock:
            row = self._conn.execute("SELECT next_oseq FROM custody_cursor").fetchone()
        return 0 if row is None else int(row[0])

    def add_tasks_and_advance(
        self, tasks: Sequence[tuple[str, str, int]], next_oseq: int, added: int
    ) -> None:
        """Record new ``(kind, vehicle_id, seq)`` tasks (once each), move the cursor: atomically."""
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO custody_tasks (kind, vehicle_id, seq, state, added) "
                "VALUES (?, ?, ?, ?, ?)",
                [(k, v, s, PENDING, added + i) for i, (k, v, s) in enumerate(tasks)],
            )
            conn.execute(
                "INSERT INTO custody_cursor (id, next_oseq) VALUES (0, ?) "
                "ON CONFLICT (id) DO UPDATE SET next_oseq = excluded.next_oseq",
                (next_oseq,),
            )

    def get_open_tasks(self, limit: int) -> list[CustodyTask]:
        """Return up to ``limit`` tasks still to do: pending ones first (oldest first), then
        waiting ones, so that erasures held for months do not hold up new work."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT kind, vehicle_id, seq, state, detail, attempts FROM custody_tasks "
                "WHERE state IN (?, ?) ORDER BY state = ?, added LIMIT ?",
                (*OPEN_STATES, WAITING, limit),
            ).fetchall()
        return [CustodyTask(*r) for r in rows]

    def get_task_optional(self, kind: str, vehicle_id: str, seq: int) -> CustodyTask | None:
        """Return one task or ``None``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT kind, vehicle_id, seq, state, detail, attempts FROM custody_tasks "
                "WHERE kind = ? AND vehicle_id = ? AND seq = ?",
                (kind, vehicle_id, seq),
            ).fetchone()
        return None if row is None else CustodyTask(*row)

    def set_task_state(self, task: CustodyTask, state: str, detail: str = "") -> None:
        """Record a task's new state (and why), counting the attempt."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE custody_tasks SET state = ?, detail = ?, attempts = attempts + 1 "
                "WHERE kind = ? AND vehicle_id = ? AND seq = ?",
                (state, detail[:200], task.kind, task.vehicle_id, task.seq),
            )

    def count_by_state(self) -> dict[str, int]:
        """Return how many tasks are in each ``kind:state``."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT kind, state, COUNT(*) FROM custody_tasks GROUP BY kind, state"
            ).fetchall()
        return {f"{k}:{s}": int(n) for k, s, n in rows}
