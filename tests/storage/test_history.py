"""State at past heights: versioned reads and proofs over a window, pruning beyond it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.api.encoding import proof_json
from carchain.core.state import STORES
from carchain.errors import (
    HeightUnavailable,
    InvalidProof,
    NotFound,
    StorageCorrupted,
)
from carchain.sdk.proofs import verify_state_proof
from carchain.storage.database import Database
from carchain.storage.ports import WriteTransaction
from carchain.storage.statestore import StateStore

Snapshot = dict[tuple[str, bytes], bytes]  # b"" = deleted (leaf kept)


def commit(state: StateStore, height: int, writes: dict[tuple[str, bytes], bytes | None]) -> None:
    overlay = state.begin_block()
    for (store, key), value in writes.items():
        if value is None:
            overlay.delete(store, key)
        else:
            overlay.set(store, key, value)
    state.commit(overlay, height, None)


def run_history(
    state: StateStore, blocks: list[dict[tuple[str, bytes], bytes | None]]
) -> dict[int, tuple[bytes, Snapshot]]:
    """Commit ``blocks`` at heights 1.. and return each height's app hash and contents."""
    live: Snapshot = {}
    seen: dict[int, tuple[bytes, Snapshot]] = {}
    for height, writes in enumerate(blocks, start=1):
        commit(state, height, writes)
        for k, v in writes.items():
            live[k] = v or b""
        seen[height] = (state.app_hash, dict(live))
    return seen


def check_height(state: StateStore, height: int, app_hash: bytes, snap: Snapshot) -> None:
    """Every key proves its value at ``height`` against that height's app hash."""
    version = state.get_version(height)
    assert version.app_hash == app_hash
    for (store, key), value in snap.items():
        assert version.get(store, key) == (value or None)
        proof = state.prove(store, key, height)
        assert proof.value == value and proof.app_hash == app_hash
        ops = proof_json(proof)
        verify_state_proof(app_hash, store, key, value, ops)
        with pytest.raises(InvalidProof):
            verify_state_proof(app_hash, store, key, value + b"!", ops)


# Few keys, so blocks overwrite and delete each other's keys often.
KEYS = st.one_of(st.sampled_from([bytes([i]) for i in range(6)]), st.binary(min_size=2, max_size=3))
OPS = st.dictionaries(
    st.tuples(st.sampled_from(["accounts", "members", "vehicles"]), KEYS),
    st.one_of(st.none(), st.binary(min_size=1, max_size=6)),
    max_size=20,
)


@settings(max_examples=50, deadline=None)
@given(st.lists(OPS, min_size=1, max_size=12))
def test_every_height_of_the_window_reads_and_proves_as_it_was(blocks: list) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "s.db")
        state = StateStore(db, versions=8)
        seen = run_history(state, blocks)
        latest = len(blocks)
        for height, (app_hash, snap) in seen.items():
            if height > latest - 8:
                check_height(state, height, app_hash, snap)
                # Keys written only later did not exist at this height.
                for store, key in set(seen[latest][1]) - set(snap):
                    assert state.get_version(height).get(store, key) is None
                    with pytest.raises(NotFound):
                        state.prove(store, key, height)
            else:
                with pytest.raises(HeightUnavailable):
                    state.prove(STORES[0], b"k", height)
        db.close()
        # The window survives a restart (nothing of it lives in caches only).
        db = Database(Path(tmp) / "s.db")
        reopened = StateStore(db, versions=8)
        for height in range(max(1, latest - 7), latest + 1):
            check_height(reopened, height, *seen[height])
        db.close()


def many_updates(versions: int, heights: int) -> StateStore:
    state = StateStore(Database(":memory:"), versions=versions)
    for height in range(1, heights + 1):
        writes: dict[tuple[str, bytes], bytes | None] = {("members", b"hot"): str(height).encode()}
        writes[("vehicles", f"v{height}".encode())] = b"x"
        commit(state, height, writes)
    return state


def test_heights_outside_the_window_are_a_typed_error() -> None:
    state = many_updates(versions=5, heights=20)
    assert state.get_oldest_height() == 16
    assert state.prove("members", b"hot", 16).value == b"16"
    assert state.prove("members", b"hot", 0).value == b"20"
    for height in (15, 1, 21, 10**6, -1):
        with pytest.raises(HeightUnavailable) as exc:
            state.get_version(height)
        assert exc.value.fields == {"height": height, "oldest": 16, "latest": 20}


def test_skipped_heights_are_a_typed_error() -> None:
    state = StateStore(Database(":memory:"))
    commit(state, 1, {("members", b"a"): b"1"})
    commit(state, 5, {("members", b"a"): b"5"})  # a chain with a later initial height
    assert state.prove("members", b"a", 1).value == b"1"
    with pytest.raises(HeightUnavailable):
        state.get_version(3)


def count_rows(state: StateStore, table: str, where: str = "1") -> int:
    return int(state.db.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").fetchone()[0])


def test_pruning_keeps_only_the_window() -> None:
    state = many_updates(versions=5, heights=60)
    # One value row per overwrite of "hot" still needed: heights 17..60 restore 16..59.
    assert count_rows(state, "kv_history", "key = x'686f74'") == 4
    assert count_rows(state, "kv_history", "height <= 56") == 0
    assert count_rows(state, "node_history", "height <= 56") == 0
    assert count_rows(state, "state_versions") == 5
    assert count_rows(state, "state_versions", "height < 56") == 0


def test_history_grows_with_changes_not_with_the_state() -> None:
    state = StateStore(Database(":memory:"), versions=1000)
    commit(state, 1, {("vehicles", f"v{i}".encode()): b"x" for i in range(4096)})
    before = [count_rows(state, t) for t in ("kv_history", "node_history")]
    commit(state, 2, {("vehicles", b"v7"): b"changed"})
    after = [count_rows(state, t) for t in ("kv_history", "node_history")]
    # One old value and the old hashes on its path (leaf + 12 levels): no copy of the state.
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 13]
    assert state.prove("vehicles", b"v7", 1).value == b"x"
    assert state.prove("vehicles", b"v7", 2).value == b"changed"


def test_rows_a_commit_writes_do_not_depend_on_the_window() -> None:
    changes = {}
    for versions in (3, 30):
        state = StateStore(Database(":memory:"), versions=versions)
        commit(state, 1, {("vehicles", f"v{i}".encode()): b"0" for i in range(200)})
        for height in range(2, 41):
            before = state.db.conn.total_changes
            commit(
                state, height, {("vehicles", f"v{i}".encode()): b"%d" % height for i in range(10)}
            )
        changes[versions] = state.db.conn.total_changes - before
        assert count_rows(state, "state_versions") == versions
    # Inserted history, deleted history, new rows: the same for both windows.
    assert changes[3] == changes[30]


def test_shrinking_the_window_prunes_at_the_next_commit(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    state = StateStore(db, versions=50)
    for height in range(1, 31):
        commit(state, height, {("members", b"hot"): str(height).encode()})
    assert state.prove("members", b"hot", 5).value == b"5"
    small = StateStore(db, versions=3)
    with pytest.raises(HeightUnavailable):
        small.prove("members", b"hot", 5)
    commit(small, 31, {("members", b"hot"): b"31"})
    assert count_rows(small, "state_versions") == 3
    assert small.prove("members", b"hot", 29).value == b"29"
    # Growing it again cannot bring pruned heights back: still a typed error.
    big = StateStore(db, versions=100)
    assert big.get_oldest_height() == 29
    with pytest.raises(HeightUnavailable):
        big.prove("members", b"hot", 28)


def test_a_height_committed_again_keeps_the_state_before_it() -> None:
    state = StateStore(Database(":memory:"))
    commit(state, 1, {("members", f"m{i}".encode()): b"1" for i in range(8)})
    at_1 = state.app_hash
    commit(state, 2, {("members", b"m3"): b"2"})
    commit(state, 2, {("members", b"m3"): b"forged", ("members", b"m5"): b"forged"})
    for key in (b"m3", b"m5"):
        proof = state.prove("members", key, 1)
        assert (proof.value, proof.app_hash) == (b"1", at_1)
    assert state.prove("members", b"m3", 2).value == b"forged"


def test_failed_commit_leaves_no_history(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    state = StateStore(db)
    commit(state, 1, {("members", b"a"): b"1"})
    overlay = state.begin_block()
    overlay.set("members", b"a", b"2")

    class Boom:
        def write_in(self, txn: WriteTransaction) -> None:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        state.commit(overlay, 2, [Boom()])
    assert count_rows(state, "kv_history") == 0
    assert count_rows(state, "state_versions", "height = 2") == 0
    assert StateStore(db).height == 1


def test_database_without_versions_starts_its_window_at_the_next_commit(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    state = StateStore(db)
    commit(state, 1, {("members", b"a"): b"1"})
    commit(state, 2, {("members", b"a"): b"2"})
    # As written before versions existed: no history tables, no write heights.
    for table in ("kv_history", "node_history", "state_versions"):
        db.conn.execute(f"DROP TABLE {table}")
    for table in ("kv", "nodes"):
        db.conn.execute(f"ALTER TABLE {table} DROP COLUMN height")
        assert "height" not in {r[1] for r in db.conn.execute(f"PRAGMA table_info({table})")}
    db.close()
    db = Database(tmp_path / "s.db")
    old = StateStore(db)
    assert old.get_oldest_height() == 2
    with pytest.raises(HeightUnavailable):
        old.prove("members", b"a", 1)
    app_hash_2 = old.app_hash
    commit(old, 3, {("members", b"a"): b"3"})
    proof = old.prove("members", b"a", 2)
    assert (proof.value, proof.app_hash) == (b"2", app_hash_2)
    with pytest.raises(HeightUnavailable):
        old.prove("members", b"a", 1)


def test_invalid_tampered_version_row_is_detected(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    state = StateStore(db)
    commit(state, 1, {("members", b"a"): b"1"})
    commit(state, 2, {("members", b"a"): b"2"})
    db.conn.execute("UPDATE state_versions SET app_hash = ? WHERE height = 1", (bytes(32),))
    with pytest.raises(StorageCorrupted):
        state.get_version(1)
    db.conn.execute("UPDATE state_versions SET roots = x'00' WHERE height = 1")
    with pytest.raises(StorageCorrupted):
        state.get_version(1)


def test_invalid_history_going_forward_in_time_is_detected(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    state = StateStore(db)
    commit(state, 1, {("members", b"a"): b"1"})
    commit(state, 2, {("members", b"a"): b"2"})
    commit(state, 3, {("members", b"a"): b"3"})
    db.conn.execute("UPDATE kv_history SET written = 3 WHERE height = 3")  # a loop
    with pytest.raises(StorageCorrupted):
        state.prove("members", b"a", 1)
    db.conn.execute("DELETE FROM kv_history WHERE height = 3")  # a gap
    with pytest.raises(StorageCorrupted):
        state.prove("members", b"a", 1)


def test_invalid_tampered_history_value_is_detected(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    state = StateStore(db)
    commit(state, 1, {("members", b"a"): b"1"})
    commit(state, 2, {("members", b"a"): b"2"})
    db.conn.execute("UPDATE kv_history SET value = x'39' WHERE height = 2")
    with pytest.raises(StorageCorrupted):
        state.prove("members", b"a", 1)


def test_invalid_window_size_is_refused() -> None:
    for bad in (0, -3, True):
        with pytest.raises(ValueError):
            StateStore(Database(":memory:"), versions=bad)
