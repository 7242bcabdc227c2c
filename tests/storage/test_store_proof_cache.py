"""Store-root proofs are cached by app hash: proofs of every height still check against
their own app hash, after commits that change other stores' roots too."""

from __future__ import annotations

from pathlib import Path

from carchain.api.encoding import proof_json
from carchain.sdk.proofs import verify_state_proof
from carchain.storage import statestore
from carchain.storage.database import Database
from carchain.storage.statestore import StateStore


def _commit(state: StateStore, height: int, store: str, key: bytes, value: bytes) -> None:
    overlay = state.begin_block()
    overlay.set(store, key, value)
    state.commit(overlay, height, None)


def test_proofs_at_each_height_check_against_that_heights_app_hash(tmp_path: Path) -> None:
    state = StateStore(Database(tmp_path / "s.db"))
    _commit(state, 1, "members", b"a", b"1")
    first = state.prove("members", b"a")
    _commit(state, 2, "vehicles", b"v", b"2")  # moves another store's root only
    second = state.prove("members", b"a")
    old = state.prove("members", b"a", height=1)
    assert first.app_hash != second.app_hash
    assert first.store_proof != second.store_proof and old.store_proof == first.store_proof
    for p in (first, second, old):
        verify_state_proof(p.app_hash, "members", b"a", b"1", proof_json(p))
    assert statestore.compute_store_proofs(state)[0] is statestore.compute_store_proofs(state)[0]


def test_cache_stays_bounded(tmp_path: Path) -> None:
    state = StateStore(Database(tmp_path / "s.db"))
    for h in range(1, statestore._STORE_PROOF_CACHE_LIMIT + 10):
        _commit(state, h, "members", b"k%d" % h, b"x")
        state.prove("members", b"k%d" % h)
    assert len(statestore._store_proofs) <= statestore._STORE_PROOF_CACHE_LIMIT


class _View:
    """A state version as a reader may see it mid-commit: roots already the new ones,
    ``app_hash`` still the old one."""

    def __init__(self, app_hash: bytes, roots: dict[str, bytes]) -> None:
        self.app_hash, self.roots = app_hash, roots


def test_cache_is_keyed_by_the_roots_the_proofs_are_computed_from() -> None:
    from carchain.core.state import STORES
    from carchain.crypto.merkle import compute_kv_leaf

    old = {s: bytes([i]) * 32 for i, s in enumerate(STORES)}
    new = old | {"members": b"\xee" * 32}
    lagging = _View(StateStore.compute_app_hash(old), new)
    statestore.compute_store_proofs(lagging)  # type: ignore[arg-type]
    proofs = statestore.compute_store_proofs(_View(lagging.app_hash, old))  # type: ignore[arg-type]
    i = STORES.index("members")
    proofs[i].verify(lagging.app_hash, compute_kv_leaf(b"members", old["members"]))
