"""The state commitment: incremental per-store RFC 6962 trees in insertion order,
checked against a naive recomputation written here from the definitions."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.api.encoding import proof_json
from carchain.core.state import STORES
from carchain.crypto import merkle
from carchain.errors import InvalidProof, NotFound
from carchain.sdk.proofs import verify_state_proof
from carchain.storage import commitment
from carchain.storage.database import Database
from carchain.storage.statestore import StateStore
from tests.conftest import Chain, open_chain, snapshot
from tests.core.test_vehicles import register_body
from tests.crypto.test_merkle import naive_mth


def naive_uvarint(n: int) -> bytes:
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def naive_leaf(key: bytes, value: bytes) -> bytes:
    """CometBFT's simple:v leaf: len-prefixed key, then len-prefixed SHA-256(value)."""
    vhash = hashlib.sha256(value).digest()
    return naive_uvarint(len(key)) + key + naive_uvarint(len(vhash)) + vhash


class NaiveState:
    """Every store as an insertion-ordered dict; deleted keys keep an empty value."""

    def __init__(self) -> None:
        self.stores: dict[str, dict[bytes, bytes]] = {s: {} for s in STORES}

    def root(self, store: str) -> bytes:
        return naive_mth([naive_leaf(k, v) for k, v in self.stores[store].items()])

    def app_hash(self) -> bytes:
        return naive_mth([naive_leaf(s.encode(), self.root(s)) for s in STORES])


@pytest.mark.parametrize(
    ("n", "encoded"),
    [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (16384, "808001")],
)
def test_uvarint_matches_go(n: int, encoded: str) -> None:
    assert merkle.encode_uvarint(n).hex() == encoded
    assert naive_uvarint(n).hex() == encoded


def test_kv_leaf_encoding() -> None:
    assert merkle.compute_kv_leaf(b"k", b"v") == b"\x01k\x20" + hashlib.sha256(b"v").digest()
    assert (
        merkle.compute_kv_leaf_hash(b"k", b"v")
        == hashlib.sha256(b"\x00" + naive_leaf(b"k", b"v")).digest()
    )


@pytest.mark.parametrize(
    ("size", "peaks"),
    [(0, []), (1, [(0, 0)]), (4, [(2, 0)]), (6, [(2, 0), (1, 2)]), (7, [(2, 0), (1, 2), (0, 6)])],
)
def test_peaks(size: int, peaks: list[tuple[int, int]]) -> None:
    assert commitment.compute_peaks(size) == peaks


def test_empty_state_app_hash() -> None:
    db = Database(":memory:")
    store = StateStore(db)
    assert store.roots == {s: hashlib.sha256(b"").digest() for s in STORES}
    assert store.compute_app_hash(store.roots) == NaiveState().app_hash()
    db.close()


# --- incremental == naive, over random histories --------------------------------------------

KEYS = st.binary(min_size=0, max_size=6)
OPS = st.tuples(
    st.sampled_from(["accounts", "members", "vehicles"]),
    KEYS,
    st.one_of(st.none(), st.binary(min_size=1, max_size=8)),  # None deletes
)
BLOCKS = st.lists(st.lists(OPS, max_size=25), min_size=1, max_size=6)


def apply_block(state: StateStore, naive: NaiveState, ops: list, height: int) -> None:  # type: ignore[type-arg]
    overlay = state.begin_block()
    for store, key, value in ops:
        if value is None:
            overlay.delete(store, key)
            naive.stores[store][key] = b""
        else:
            overlay.set(store, key, value)
            naive.stores[store][key] = value
    state.commit(overlay, height, None)


def check_every_proof(state: StateStore, naive: NaiveState) -> None:
    for store, entries in naive.stores.items():
        for key, value in entries.items():
            proof = state.prove(store, key)
            assert proof.value == value
            ops = proof_json(proof)
            verify_state_proof(state.app_hash, store, key, value, ops)
            with pytest.raises(InvalidProof):
                verify_state_proof(state.app_hash, store, key, value + b"!", ops)


@settings(max_examples=60, deadline=None)
@given(BLOCKS)
def test_incremental_commitment_equals_naive(blocks: list) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.db"
        db = Database(path)
        state = StateStore(db)
        naive = NaiveState()
        for height, ops in enumerate(blocks, start=1):
            apply_block(state, naive, ops, height)
            assert state.roots == {s: naive.root(s) for s in STORES}
            assert state.app_hash == naive.app_hash()
            for store, entries in naive.stores.items():
                for key, value in entries.items():
                    assert state.get(store, key) == (value or None)
        check_every_proof(state, naive)
        db.close()
        # A fresh process sees the same commitment (no cache involved).
        db = Database(path)
        reopened = StateStore(db)
        assert reopened.app_hash == naive.app_hash()
        assert reopened.height == len(blocks)
        check_every_proof(reopened, naive)
        db.close()


def test_large_store_incremental_equals_naive() -> None:
    """Many leaves over many blocks: every tree shape up to 300 leaves."""
    db = Database(":memory:")
    state = StateStore(db)
    naive = NaiveState()
    for height in range(1, 31):
        ops = [("vehicles", f"v/{height}/{i}".encode(), bytes([i + 1])) for i in range(10)]
        ops += [("vehicles", f"v/{height - 1}/{i}".encode(), b"upd") for i in range(0, 10, 3)]
        ops += [("vehicles", f"v/{height - 2}/1".encode(), None)]
        apply_block(state, naive, ops, height)
        assert state.roots["vehicles"] == naive.root("vehicles")
    assert state.app_hash == naive.app_hash()
    check_every_proof(state, naive)
    db.close()


def test_never_written_key_has_no_proof_and_deleted_key_proves_empty() -> None:
    db = Database(":memory:")
    state = StateStore(db)
    naive = NaiveState()
    apply_block(state, naive, [("members", b"a", b"1"), ("members", b"b", b"2")], 1)
    apply_block(state, naive, [("members", b"a", None)], 2)
    with pytest.raises(NotFound) as info:
        state.prove("members", b"never")
    assert getattr(info.value, "code", None) == "not_found"
    proof = state.prove("members", b"a")
    assert proof.value == b""
    verify_state_proof(state.app_hash, "members", b"a", b"", proof_json(proof))
    with pytest.raises(InvalidProof):  # the old value is no longer committed
        verify_state_proof(state.app_hash, "members", b"a", b"1", proof_json(proof))
    db.close()


# --- determinism across independent databases --------------------------------------------------


def _feed(chain: Chain, blocks: list[list[bytes]]) -> list[tuple[bytes, bytes]]:
    out = []
    for raws in blocks:
        chain.include(*raws)
        header = chain.engine.blocks.get_header(chain.engine.height)
        assert header is not None
        out.append((header.app_hash, chain.app.state.app_hash))
    return out


def test_same_blocks_same_app_hash_in_two_databases(tmp_path: Path) -> None:
    builder = open_chain(tmp_path / "builder.db")
    blocks = []
    for b in range(4):
        raws = [builder.build("saic", register_body(f"saic:{b}-{i}")) for i in range(5)]
        raws += [builder.build("geely", register_body(f"geely:{b}")), b"junk"]
        blocks.append(raws)
    builder.db.close()
    a = open_chain(tmp_path / "a.db")
    b = open_chain(tmp_path / "b.db")
    hashes_a, hashes_b = _feed(a, blocks), _feed(b, blocks)
    assert hashes_a == hashes_b
    assert len({h for h, _ in hashes_a}) == 4  # every block changed the state
    for height in range(1, 5):
        assert a.engine.blocks.get_block(height) == b.engine.blocks.get_block(height)
    # The same transactions in another order reach the same values, but the
    # leaves sit in another order: the commitment sees the difference.
    c = open_chain(tmp_path / "c.db")
    first = blocks[0]
    [*results] = c.include(first[5], *first[:5], first[6])
    assert [r.code for r in results] == [0, 0, 0, 0, 0, 0, 2]
    assert snapshot(c.db) == snapshot_at(tmp_path, blocks[:1])
    assert c.app.state.app_hash != hashes_a[0][1]
    for chain in (a, b, c):
        chain.db.close()


def snapshot_at(tmp_path: Path, blocks: list[list[bytes]]) -> dict[tuple[str, bytes], bytes]:
    d = open_chain(tmp_path / "d.db")
    _feed(d, blocks)
    snap = snapshot(d.db)
    d.db.close()
    return snap
