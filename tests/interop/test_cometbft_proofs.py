"""Our proofs and Merkle roots, checked by CometBFT's own crypto/merkle (Go).

The verifier in ``cometbft_verifier/`` is built with the machine's Go against the
pinned CometBFT module, so these tests fail if our hashing drifts from CometBFT's.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from carchain.api.encoding import proof_json
from carchain.core.state import STORES
from carchain.crypto.merkle import compute_merkle_root
from carchain.storage.database import Database
from carchain.storage.statestore import StateStore

HERE = Path(__file__).parent / "cometbft_verifier"


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    assert go is not None, "Go is required (make test installs the network tooling with it)"
    out = tmp_path_factory.mktemp("gobin") / "cometbft_verifier"
    env = dict(os.environ, GOFLAGS="-mod=mod", GOTOOLCHAIN="auto")
    subprocess.run([go, "build", "-o", str(out), "."], cwd=HERE, check=True, env=env, timeout=600)
    return out


def _run(verifier: Path, doc: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(verifier)], input=json.dumps(doc), capture_output=True, text=True, timeout=60
    )


def _populated_state(tmp_path: Path) -> tuple[StateStore, dict[tuple[str, bytes], bytes]]:
    rng = random.Random(7)
    state = StateStore(Database(tmp_path / "s.db"))
    live: dict[tuple[str, bytes], bytes] = {}
    for height in range(1, 6):
        overlay = state.begin_block()
        for _ in range(rng.randrange(1, 40)):
            store = rng.choice(STORES)
            if live and rng.random() < 0.2:
                store, key = rng.choice(sorted(live))
                if rng.random() < 0.5:
                    overlay.delete(store, key)
                    del live[(store, key)]
                    continue
            else:
                key = rng.randbytes(rng.randrange(1, 70))
            value = rng.randbytes(rng.randrange(1, 300))
            overlay.set(store, key, value)
            live[(store, key)] = value
        state.commit(overlay, height, None)
    return state, live


def test_state_proofs_verify_in_cometbft(verifier: Path, tmp_path: Path) -> None:
    state, live = _populated_state(tmp_path)
    for store, key in sorted(live)[:25]:
        proof = state.prove(store, key)
        doc = {
            "app_hash": state.app_hash.hex(),
            "store": store,
            "key": key.hex(),
            "value": live[(store, key)].hex(),
            "proof": proof_json(proof),
        }
        res = _run(verifier, doc)
        assert res.returncode == 0, res.stderr


def test_invalid_tampered_value_is_rejected_by_cometbft(verifier: Path, tmp_path: Path) -> None:
    state, live = _populated_state(tmp_path)
    store, key = sorted(live)[0]
    proof = state.prove(store, key)
    doc = {
        "app_hash": state.app_hash.hex(),
        "store": store,
        "key": key.hex(),
        "value": (live[(store, key)] + b"x").hex(),
        "proof": proof_json(proof),
    }
    res = _run(verifier, doc)
    assert res.returncode == 1
    assert "leaf hash mismatch" in res.stderr


def test_invalid_wrong_app_hash_is_rejected_by_cometbft(verifier: Path, tmp_path: Path) -> None:
    state, live = _populated_state(tmp_path)
    store, key = sorted(live)[-1]
    doc = {
        "app_hash": bytes(32).hex(),
        "store": store,
        "key": key.hex(),
        "value": live[(store, key)].hex(),
        "proof": proof_json(state.prove(store, key)),
    }
    assert _run(verifier, doc).returncode == 1


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 100])
def test_merkle_root_matches_cometbft(verifier: Path, n: int) -> None:
    rng = random.Random(n)
    leaves = [rng.randbytes(rng.randrange(0, 50)) for _ in range(n)]
    doc = {"leaves": [x.hex() for x in leaves], "root": compute_merkle_root(leaves).hex()}
    res = _run(verifier, doc)
    assert res.returncode == 0, res.stderr


def test_past_height_proofs_verify_in_cometbft(verifier: Path, tmp_path: Path) -> None:
    """A proof at an older height of the window chains to that height's app hash."""
    rng = random.Random(11)
    state = StateStore(Database(tmp_path / "p.db"), versions=10)
    keys = [(rng.choice(STORES), rng.randbytes(rng.randrange(1, 40))) for _ in range(60)]
    seen: dict[int, tuple[bytes, dict[tuple[str, bytes], bytes]]] = {}
    live: dict[tuple[str, bytes], bytes] = {}
    for height in range(1, 9):
        overlay = state.begin_block()
        for store, key in rng.sample(keys, 25):  # overwrites and inserts, every block
            value = rng.randbytes(rng.randrange(1, 100))
            overlay.set(store, key, value)
            live[(store, key)] = value
        state.commit(overlay, height, None)
        seen[height] = (state.app_hash, dict(live))
    for height in (2, 5):
        app_hash, snapshot = seen[height]
        changed = [k for k in sorted(snapshot) if snapshot[k] != live.get(k)]
        assert changed, "the history must overwrite values for this test to mean anything"
        for store, key in changed[:8]:
            doc = {
                "app_hash": app_hash.hex(),
                "store": store,
                "key": key.hex(),
                "value": snapshot[(store, key)].hex(),
                "proof": proof_json(state.prove(store, key, height)),
            }
            res = _run(verifier, doc)
            assert res.returncode == 0, res.stderr
            # The old value does not verify against the latest app hash.
            assert _run(verifier, doc | {"app_hash": state.app_hash.hex()}).returncode == 1
