"""The key filter (issue 14): reads of keys that were never written skip SQLite, and
no key that exists is ever answered absent — across growth, reopening and failed
commits."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.storage import key_filter
from carchain.storage.database import Database
from carchain.storage.key_filter import MIN_CAPACITY, KeyFilter
from carchain.storage.statestore import StateStore

keys = st.lists(st.tuples(st.sampled_from(["vehicles", "members"]), st.binary(max_size=40)))


@settings(max_examples=50, deadline=None)
@given(keys)
def test_every_added_key_may_be_contained(added: list[tuple[str, bytes]]) -> None:
    f = KeyFilter()
    for store, key in added:
        f.add(store, key)
    assert all(f.may_contain(store, key) for store, key in added)


def key(i: int) -> bytes:
    return b"k/" + hashlib.sha256(b"%d" % i).digest()


def test_a_full_filter_grows_a_layer_and_forgets_nothing() -> None:
    f = KeyFilter()
    n = 3 * MIN_CAPACITY
    for i in range(n):
        f.add("vehicles", key(i))
    assert f.layers >= 2
    assert all(f.may_contain("vehicles", key(i)) for i in range(n))


def test_absent_keys_are_mostly_answered_absent() -> None:
    f = KeyFilter()
    for i in range(MIN_CAPACITY):  # at its full capacity
        f.add("vehicles", key(i))
    misses = [key(-i) for i in range(1, 10_001)]
    false_positives = sum(f.may_contain("vehicles", k) for k in misses)
    assert false_positives < 500  # about 1.4 % expected at 16 bits a key, two probes
    assert not f.may_contain("members", key(0))  # the store is part of the key


class Failing:
    def write_in(self, conn: sqlite3.Connection) -> None:
        raise RuntimeError("disk full")


def count_reads(state: StateStore, keys: list[bytes]) -> tuple[list[bytes | None], int]:
    statements: list[str] = []
    state.db.conn.set_trace_callback(statements.append)
    try:
        values = [state.get("members", k) for k in keys]
    finally:
        state.db.conn.set_trace_callback(None)
    return values, sum(1 for s in statements if s.startswith("SELECT"))


def test_state_reads_skip_sqlite_only_for_keys_never_written(tmp_path: Path) -> None:
    state = StateStore(Database(tmp_path / "s.db"))
    overlay = state.begin_block()
    overlay.set("members", b"a", b"1")
    overlay.delete("members", b"gone")  # a deleted key keeps its row: it exists
    state.commit(overlay, 1)
    state._values.clear()  # the cache would answer otherwise: make every read ask
    values, reads = count_reads(state, [b"a", b"gone"])
    assert values == [b"1", None] and reads == 2
    absent = [b"never-%d" % i for i in range(200)]
    values, reads = count_reads(state, absent)
    assert values == [None] * 200 and reads < 20
    state.db.close()
    reopened = StateStore(Database(tmp_path / "s.db"))  # the filter rebuilt from the rows
    assert reopened.get("members", b"a") == b"1"
    assert reopened.get_leaf_index("members", b"gone") is not None
    reopened.db.close()


def test_a_failed_commit_adds_no_key_and_a_later_one_does(tmp_path: Path) -> None:
    state = StateStore(Database(tmp_path / "s.db"))
    overlay = state.begin_block()
    overlay.set("members", b"a", b"1")
    with pytest.raises(RuntimeError):
        state.commit(overlay, 1, [Failing()])
    assert state.get("members", b"a") is None
    overlay = state.begin_block()
    overlay.set("members", b"a", b"2")
    state.commit(overlay, 1)
    state._values.clear()
    assert state.get("members", b"a") == b"2"
    assert state.get_leaf_indexes("members", [b"a", b"b"]) == {b"a": 0}
    state.db.close()


def test_a_large_state_builds_its_filter_on_a_thread_without_missing_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan's snapshot is taken, a block commits a new key, then the scan ends: the
    key the scan could not see is in the filter all the same (taken from the pending)."""
    state = StateStore(Database(tmp_path / "s.db"))
    overlay = state.begin_block()
    for i in range(50):
        overlay.set("members", b"old-%d" % i, b"1")
    state.commit(overlay, 1)
    state.db.close()
    scanned, committed = threading.Event(), threading.Event()
    real_scan = key_filter._scan

    def slow_scan(conn: sqlite3.Connection) -> Iterator[tuple[str, bytes]]:
        rows = real_scan(conn)
        yield next(rows)  # the snapshot is taken with the first row
        scanned.set()
        assert committed.wait(30)
        yield from rows

    monkeypatch.setattr(key_filter, "SYNC_BUILD_ROWS", 0)
    monkeypatch.setattr(key_filter, "_scan", slow_scan)
    state = StateStore(Database(tmp_path / "s.db"))
    assert scanned.wait(30)
    assert not state.keys.ready
    assert state.get("members", b"old-7") == b"1"  # read from SQLite meanwhile
    overlay = state.begin_block()
    overlay.set("members", b"new", b"2")
    state.commit(overlay, 2)
    committed.set()
    assert state.keys.wait_ready(30)
    state._values.clear()
    assert state.get("members", b"new") == b"2"
    assert all(state.get("members", b"old-%d" % i) == b"1" for i in range(50))
    _, reads = count_reads(state, [b"never-%d" % i for i in range(200)])
    assert reads < 20
    state.db.close()
