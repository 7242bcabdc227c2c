"""Committed state, block overlays, caches, proofs and corruption detection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from carchain.api.encoding import proof_json
from carchain.errors import NotFound, StorageCorrupted
from carchain.sdk.proofs import verify_state_proof
from carchain.storage.database import Database
from carchain.storage.statestore import StateStore


def commit(state: StateStore, height: int, **writes: bytes | None) -> None:
    overlay = state.begin_block()
    for key, value in writes.items():
        if value is None:
            overlay.delete("members", key.encode())
        else:
            overlay.set("members", key.encode(), value)
    state.commit(overlay, height, None)


@pytest.fixture
def state(tmp_path: Path) -> StateStore:
    return StateStore(Database(tmp_path / "s.db"))


def test_committed_state_is_read_only(state: StateStore) -> None:
    with pytest.raises(TypeError):
        state.set("members", b"a", b"1")
    with pytest.raises(TypeError):
        state.delete("members", b"a")


def test_overlay_reads_its_own_writes(state: StateStore) -> None:
    commit(state, 1, a=b"1", b=b"2")
    overlay = state.begin_block()
    overlay.set("members", b"a", b"new")
    overlay.delete("members", b"b")
    overlay.set("members", b"c", b"3")
    assert [overlay.get("members", k) for k in (b"a", b"b", b"c", b"d")] == [
        b"new",
        None,
        b"3",
        None,
    ]
    # Nothing reaches committed state until commit.
    assert [state.get("members", k) for k in (b"a", b"b", b"c")] == [b"1", b"2", None]
    with pytest.raises(ValueError):
        overlay.set("members", b"a", b"")


def test_overlay_app_hash_is_what_commit_stores(state: StateStore) -> None:
    overlay = state.begin_block()
    overlay.set("members", b"a", b"1")
    first = overlay.compute_app_hash()
    overlay.set("members", b"b", b"2")  # more writes after a first computation
    predicted = overlay.compute_app_hash()
    assert predicted != first
    state.commit(overlay, 1, None)
    assert state.app_hash == predicted
    assert state.height == 1


def test_dropped_overlay_changes_nothing(state: StateStore) -> None:
    commit(state, 1, a=b"1")
    before = (state.app_hash, dict(state.roots), dict(state.sizes))
    overlay = state.begin_block()
    overlay.set("members", b"z", b"9")
    overlay.compute_app_hash()
    assert (state.app_hash, state.roots, state.sizes) == before
    assert state.get("members", b"z") is None


def test_caches_follow_commits(state: StateStore) -> None:
    assert state.get("members", b"a") is None  # cached as absent
    assert state.get_leaf_index("members", b"a") is None
    commit(state, 1, a=b"1")
    assert state.get("members", b"a") == b"1"
    assert state.get_leaf_index("members", b"a") == 0
    commit(state, 2, a=None)
    assert state.get("members", b"a") is None
    assert state.get_leaf_index("members", b"a") == 0  # the leaf stays
    commit(state, 3, a=b"back")
    assert state.get("members", b"a") == b"back"
    assert state.sizes["members"] == 1


def test_prove_absent_and_deleted(state: StateStore) -> None:
    commit(state, 1, a=b"1", b=b"2")
    commit(state, 2, a=None)
    with pytest.raises(NotFound, match="never written"):
        state.prove("members", b"never")
    with pytest.raises(NotFound, match="no such store"):
        state.prove("nope", b"a")
    proof = state.prove("members", b"a")
    assert proof.value == b""
    verify_state_proof(state.app_hash, "members", b"a", b"", proof_json(proof))
    proof_b = state.prove("members", b"b")
    verify_state_proof(state.app_hash, "members", b"b", b"2", proof_json(proof_b))


def test_iterate_by_prefix_with_paging(state: StateStore) -> None:
    overlay = state.begin_block()
    for i in range(10):
        overlay.set("vehicles", f"v/{i:02d}".encode(), b"x")
    overlay.set("vehicles", b"k/abc", b"y")
    overlay.set("vehicles", b"w/1", b"z")
    overlay.delete("vehicles", b"v/03")
    state.commit(overlay, 1, None)
    keys = [k for k, _ in state.iterate("vehicles", b"v/", 100)]
    assert keys == [f"v/{i:02d}".encode() for i in range(10) if i != 3]
    page1 = [k for k, _ in state.iterate("vehicles", b"v/", 4)]
    page2 = [k for k, _ in state.iterate("vehicles", b"v/", 4, after=page1[-1])]
    assert page1 + page2 == keys[:8]
    assert list(state.iterate("vehicles", b"nothing/", 10)) == []


def test_reopen_sees_committed_state(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    state = StateStore(db)
    commit(state, 1, a=b"1")
    commit(state, 2, b=b"2")
    app_hash = state.app_hash
    db.close()
    again = StateStore(Database(tmp_path / "s.db"))
    assert (again.height, again.app_hash) == (2, app_hash)
    assert again.get("members", b"b") == b"2"


def _tamper(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE nodes SET hash = zeroblob(32) WHERE store = 'members' AND level = 0 AND idx = 2",
        "DELETE FROM nodes WHERE store = 'members' AND level = 1",
        "UPDATE meta SET value = zeroblob(32) WHERE name = 'app_hash'",
        "UPDATE meta SET value = x'0000000000000002' WHERE name = 'size/members'",
    ],
)
def test_corrupted_commitment_is_refused_on_open(tmp_path: Path, sql: str) -> None:
    db = Database(tmp_path / "s.db")
    commit(StateStore(db), 1, a=b"1", b=b"2", c=b"3")
    db.close()
    _tamper(tmp_path / "s.db", sql)
    with pytest.raises(StorageCorrupted):
        StateStore(Database(tmp_path / "s.db"))


def test_tampered_value_is_refused_when_proven(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    commit(StateStore(db), 1, a=b"1", b=b"2")
    db.close()
    _tamper(tmp_path / "s.db", "UPDATE kv SET value = x'99' WHERE key = x'61'")
    state = StateStore(Database(tmp_path / "s.db"))
    with pytest.raises(StorageCorrupted):
        state.prove("members", b"a")
    state.prove("members", b"b")


def test_leaf_positions_are_read_in_batches_as_one_by_one(state: StateStore) -> None:
    commit(state, 1, **{f"k{i:04d}": b"v" for i in range(0, 1200, 2)})  # the even keys
    asked = [f"k{i:04d}".encode() for i in range(1200)] + [b"never"]
    state.get("members", b"k0001")  # known absent: not even asked for
    batch = state.get_leaf_indexes("members", asked)
    one_by_one = {k: state.get_leaf_index("members", k) for k in asked}
    assert batch == {k: i for k, i in one_by_one.items() if i is not None}
    assert len(batch) == 600 and sorted(batch.values()) == list(range(600))
    assert state.get_leaf_indexes("members", []) == {}


def test_new_and_rewritten_keys_get_the_leaves_they_always_did(tmp_path: Path) -> None:
    """Rewrites keep their leaf, new keys take the next ones in first-write order (the
    positions the app hash commits to, the same on every node)."""
    state = StateStore(Database(tmp_path / "a.db"))
    commit(state, 1, **{f"k{i:04d}": b"1" for i in range(700)})
    overlay = state.begin_block()
    for i in (1500, 3, 1501, 699, 1502):
        overlay.set("members", f"k{i:04d}".encode(), b"2")
    overlay.compute_app_hash()
    leaves = {k.decode(): overlay.leaf_index[("members", k)] for _, k in overlay.writes}
    assert leaves == {"k1500": 700, "k0003": 3, "k1501": 701, "k0699": 699, "k1502": 702}
