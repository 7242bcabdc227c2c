"""Copying the write-ahead log into the database file, off the commit path.

SQLite's default auto-checkpoint copies the WAL back into the database file
inside the commit that crosses 1,000 pages: with blocks bigger than that, every
block's pages were written twice, with two more fsyncs, on the committing
thread. ``Database`` turns that off and hands the work to a ``Checkpointer``: its
own thread and connection run a PASSIVE checkpoint once every ``every_commits``
commits, so a page rewritten by several blocks in between (the tree's upper
nodes, the tails of the append-only tables) reaches the database file once, and
the committing thread never waits for it (Python's sqlite3 releases the GIL while
SQLite works).

Crash safety is SQLite's: a commit is durable once its WAL frames are synced
(``synchronous=FULL``); a checkpoint only copies synced frames and the WAL stays
authoritative until the copy is synced, so a kill -9 at any moment, before,
during or after a checkpoint, reopens at the last committed transaction.
"""

from __future__ import annotations

import sqlite3
import threading

DEFAULT_CHECKPOINT_COMMITS = 32
# A checkpoint copies the frames that were there when it started; the commits made
# meanwhile are copied by running again at once, up to this many times, so the
# WAL is fully copied between two commits and the next one starts it over (else,
# under steady commits, it would never restart and only grow).
MAX_CATCH_UP_ROUNDS = 8


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own thread every ``every_commits``."""

    def __init__(self, path: str, every_commits: int = DEFAULT_CHECKPOINT_COMMITS) -> None:
        if every_commits < 1:
            raise ValueError("checkpoint interval must be at least one commit")
        self.path = path
        self.every_commits = every_commits
        self.checkpoints = 0  # completed, for tests and benchmarks
        self.failures = 0  # checkpoints SQLite refused (the next one retries)
        self._pending = 0
        self._running = False
        self._stop = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def note_commit(self) -> None:
        """Count one commit; wake the thread when the interval is reached."""
        with self._cond:
            self._pending += 1
            if self._pending >= self.every_commits:
                self._wake()

    def request(self) -> None:
        """Ask for a checkpoint now (it runs on the thread)."""
        with self._cond:
            self._pending = self.every_commits
            self._wake()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no checkpoint is due or running; return whether that happened in time."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._running and self._pending < self.every_commits, timeout
            )

    def close(self) -> None:
        """Stop the thread (a checkpoint under way finishes first)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _wake(self) -> None:
        # Under the lock. The thread starts with the first checkpoint due.
        if self._thread is None and not self._stop:
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()
        self._cond.notify_all()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=FULL")
            while self._wait():
                done = self._checkpoint(conn)
                with self._cond:
                    self._running = False
                    self.checkpoints += done
                    self.failures += not done
                    self._cond.notify_all()
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> bool:
        """Copy the WAL until all of it is copied (or the rounds run out); return success."""
        try:
            for _ in range(MAX_CATCH_UP_ROUNDS):
                _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if copied >= frames:
                    break
        except sqlite3.Error:
            return False
        return True

    def _wait(self) -> bool:
        """Block until a checkpoint is due (True, the count reset) or the stop (False)."""
        with self._cond:
            self._cond.wait_for(lambda: self._stop or self._pending >= self.every_commits)
            if self._stop:
                return False
            self._pending = 0
            self._running = True
            return True
