"""WAL checkpoints off the commit path: every N commits, on the checkpointer's thread."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from carchain.storage.checkpoint import MAX_CATCH_UP_ROUNDS, Checkpointer
from carchain.storage.database import WAL_SIZE_LIMIT, Database

DEADLINE_S = 30.0
BIG = b"x" * 3000  # a value per page: a transaction of these crosses SQLite's 1,000 pages


def commit_rows(db: Database, first: int, count: int) -> None:
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO meta (name, value) VALUES (?, ?)",
            [(f"row{i}", BIG) for i in range(first, first + count)],
        )


def rows_in_file_alone(db_path: Path, tmp_path: Path) -> int:
    """Return the rows a copy of the database file without its WAL holds."""
    copy = tmp_path / f"copy-{len(list(tmp_path.iterdir()))}.db"
    shutil.copyfile(db_path, copy)
    conn = sqlite3.connect(copy)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
            return 0  # even the schema is still only in the WAL
        return int(conn.execute("SELECT COUNT(*) FROM meta WHERE name LIKE 'row%'").fetchone()[0])
    finally:
        conn.close()


def test_commits_stay_in_the_wal_until_the_interval_then_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = Database(path, checkpoint_commits=3)
    assert db.checkpointer is not None
    commit_rows(db, 0, 1_500)  # past SQLite's auto-checkpoint threshold: it is off
    commit_rows(db, 1_500, 10)
    assert db.checkpointer.wait_idle(DEADLINE_S)
    assert db.checkpointer.checkpoints == 0
    assert rows_in_file_alone(path, tmp_path) == 0
    commit_rows(db, 1_510, 10)  # the third commit: a checkpoint is due
    assert db.checkpointer.wait_idle(DEADLINE_S)
    assert db.checkpointer.checkpoints == 1
    assert rows_in_file_alone(path, tmp_path) == 1_520
    db.close()


def test_a_wal_copied_whole_starts_over_at_the_next_commit(tmp_path: Path) -> None:
    db = Database(tmp_path / "state.db", checkpoint_commits=2)
    assert db.checkpointer is not None
    for i in range(60):  # back to back: checkpoints run while the next commits write
        commit_rows(db, i * 50, 50)
    commit_rows(db, 5_000, 1)
    assert db.checkpointer.wait_idle(DEADLINE_S)
    db.checkpointer.request()  # what the next due checkpoint does between two commits
    assert db.checkpointer.wait_idle(DEADLINE_S)
    commit_rows(db, 5_001, 1)
    frames = db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    assert frames <= 10  # the WAL starts over, it does not grow by 3,000 pages each round
    db.close()


class FakeCheckpointConnection:
    """Answers ``wal_checkpoint`` with (busy, frames in the WAL, frames copied) in turn."""

    def __init__(self, answers: list[tuple[int, int, int]]) -> None:
        self.answers = answers
        self.calls = 0

    def execute(self, sql: str) -> FakeCheckpointConnection:
        assert sql == "PRAGMA wal_checkpoint(PASSIVE)"
        self.calls += 1
        return self

    def fetchone(self) -> tuple[int, int, int]:
        return self.answers[self.calls - 1]


def test_a_checkpoint_runs_again_until_the_commits_made_meanwhile_are_copied() -> None:
    conn = FakeCheckpointConnection([(0, 100, 80), (0, 130, 120), (0, 130, 130), (0, 9, 0)])
    assert Checkpointer._checkpoint(conn)  # type: ignore[arg-type]
    assert conn.calls == 3


def test_catching_up_stops_after_its_rounds() -> None:
    conn = FakeCheckpointConnection([(0, 100 + i, i) for i in range(20)])
    assert Checkpointer._checkpoint(conn)  # type: ignore[arg-type]
    assert conn.calls == MAX_CATCH_UP_ROUNDS


def test_close_stops_the_thread_and_folds_the_wal_in(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = Database(path, checkpoint_commits=1)
    commit_rows(db, 0, 5)
    checkpointer = db.checkpointer
    assert checkpointer is not None and checkpointer.wait_idle(DEADLINE_S)
    thread = checkpointer._thread
    assert thread is not None and thread.is_alive()
    commit_rows(db, 5, 5)
    db.close()
    assert not thread.is_alive()
    assert rows_in_file_alone(path, tmp_path) == 10


def test_zero_keeps_sqlite_s_automatic_checkpoints(tmp_path: Path) -> None:
    db = Database(tmp_path / "state.db", checkpoint_commits=0)
    assert db.checkpointer is None
    assert db.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    db.close()
    db = Database(tmp_path / "state.db")
    assert db.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert db.conn.execute("PRAGMA journal_size_limit").fetchone()[0] == WAL_SIZE_LIMIT
    db.close()


def test_a_new_file_takes_the_page_size_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    db = Database(tmp_path / "state.db", page_size=1024)
    assert db.conn.execute("PRAGMA page_size").fetchone()[0] == 1024
    db.close()
    db = Database(tmp_path / "state.db", page_size=4096)
    assert db.conn.execute("PRAGMA page_size").fetchone()[0] == 1024
    db.close()


def test_an_in_memory_database_has_no_checkpointer() -> None:
    db = Database(":memory:")
    assert db.checkpointer is None
    db.close()


@pytest.mark.parametrize("every", [0, -1])
def test_an_interval_below_one_commit_is_refused(tmp_path: Path, every: int) -> None:
    with pytest.raises(ValueError):
        Checkpointer(str(tmp_path / "x.db"), every)
