"""The custodian service's durable state: a cursor over case ids, one task per case,
and the cases a human approved locally.

The service reads new cases (ids ``cursor+1 .. case count``) in one SQLite
transaction with the cursor: after a crash it resumes there, no case is skipped
and none is added twice. A task is worked against the chain's state every round
(a share already released on chain is not released again), so a crash between a
release transaction and the task's update does nothing twice either.

The tables hold case ids, states, counts and error codes: no personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from carchain.storage.database import SharedConnection

_SCHEMA = """
CREATE TABLE IF NOT EXISTS custodian_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    last_case_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS custodian_cases (
    case_id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    released INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS custodian_open ON custodian_cases (state, case_id);
CREATE TABLE IF NOT EXISTS custodian_local_approvals (
    case_id INTEGER PRIMARY KEY,
    approved_ms INTEGER NOT NULL
);
"""

# Task states. WATCHING and WAITING are worked every round; the others are final.
WATCHING = "watching"  # not (yet) releasable: open, below quorum, awaiting own approval
WAITING = "waiting_local_approval"  # releasable on chain; the local policy holds it
DONE = "done"  # every share of this custodian in scope is released on chain
ENDED = "ended"  # rejected, closed or expired: nothing more is ever released
DECLINED = "declined"  # this custodian declined the case
NOT_CUSTODIAN = "not_custodian"  # this custodian holds no seat for any key in scope
OPEN_STATES = (WATCHING, WAITING)
FINAL_STATES = (DONE, ENDED, DECLINED, NOT_CUSTODIAN)


@dataclass(frozen=True, slots=True)
class CaseTask:
    """The service's record of one case."""

    case_id: int
    state: str
    detail: str
    released: int
    attempts: int


class CustodianJournal(SharedConnection):
    """The cursor, case tasks and local approvals (own SQLite file, WAL)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        super().__init__(path, _SCHEMA)

    def get_cursor(self) -> int:
        """Return the highest case id already taken up (0 at first)."""
        with self._lock:
            row = self._conn.execute("SELECT last_case_id FROM custodian_cursor").fetchone()
        return 0 if row is None else int(row[0])

    def add_cases_and_advance(self, last_case_id: int) -> None:
        """Take up the cases up to ``last_case_id`` and move the cursor there, atomically."""
        with self._tx() as conn:
            row = conn.execute("SELECT last_case_id FROM custodian_cursor").fetchone()
            first = 1 if row is None else int(row[0]) + 1
            conn.executemany(
                "INSERT OR IGNORE INTO custodian_cases (case_id, state) VALUES (?, ?)",
                [(c, WATCHING) for c in range(first, last_case_id + 1)],
            )
            conn.execute(
                "INSERT INTO custodian_cursor (id, last_case_id) VALUES (0, ?) "
                "ON CONFLICT (id) DO UPDATE SET last_case_id = "
                "max(custodian_cursor.last_case_id, excluded.last_case_id)",
                (last_case_id,),
            )

    def get_open_tasks(self, limit: int) -> list[CaseTask]:
        """Return up to ``limit`` cases still worked, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT case_id, state, detail, released, attempts FROM custodian_cases "
                "WHERE state IN (?, ?) ORDER BY case_id LIMIT ?",
                (*OPEN_STATES, limit),
            ).fetchall()
        return [CaseTask(*r) for r in rows]

    def get_tasks_in(self, state: str) -> list[CaseTask]:
        """Return every case in ``state``, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT case_id, state, detail, released, attempts FROM custodian_cases "
                "WHERE state = ? ORDER BY case_id",
                (state,),
            ).fetchall()
        return [CaseTask(*r) for r in rows]

    def get_task_optional(self, case_id: int) -> CaseTask | None:
        """Return the record of one case or ``None``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT case_id, state, detail, released, attempts FROM custodian_cases "
                "WHERE case_id = ?",
                (case_id,),
            ).fetchone()
        return None if row is None else CaseTask(*row)

    def set_task_state(self, case_id: int, state: str, detail: str = "", released: int = 0) -> None:
        """Record a case's new state (and why), adding ``released`` shares, counting the attempt."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE custodian_cases SET state = ?, detail = ?, released = released + ?, "
                "attempts = attempts + 1 WHERE case_id = ?",
                (state, detail[:200], released, case_id),
            )

    def approve_locally(self, case_id: int, now_ms: int) -> bool:
        """Record the local (human) approval of a case; return whether it is new."""
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO custodian_local_approvals (case_id, approved_ms) "
                "VALUES (?, ?)",
                (case_id, now_ms),
            )
            return cur.rowcount == 1

    def is_locally_approved(self, case_id: int) -> bool:
        """Return whether a human approved the case through ``custodian approve``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM custodian_local_approvals WHERE case_id = ?", (case_id,)
            ).fetchone()
        return row is not None

    def count_by_state(self) -> dict[str, int]:
        """Return how many cases are in each state."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT state, COUNT(*) FROM custodian_cases GROUP BY state"
            ).fetchall()
        return {s: int(n) for s, n in rows}
