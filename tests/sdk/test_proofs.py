"""Offline state-proof checks: what verifies, and every way a proof can lie."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from carchain.api.encoding import proof_json
from carchain.errors import InvalidProof
from carchain.sdk.proofs import verify_state_proof
from tests.conftest import Chain, open_chain
from tests.core.test_vehicles import register_body


@pytest.fixture
def proven(tmp_path: Path) -> tuple[bytes, bytes, list[dict[str, Any]], Chain]:
    chain = open_chain(tmp_path / "s.db")
    for i in range(5):
        chain.send("saic", register_body(f"saic:{i}"))
    proof = chain.app.state.prove("vehicles", b"v/saic:3")
    return chain.app.state.app_hash, proof.value, proof_json(proof), chain


def test_valid_proof_verifies(proven: tuple[bytes, bytes, list[dict[str, Any]], Chain]) -> None:
    app_hash, value, ops, chain = proven
    verify_state_proof(app_hash, "vehicles", b"v/saic:3", value, ops)
    # Every key of every store proves against the same app hash.
    for store in ("accounts", "members", "vehicles", "params", "governance"):
        rows = chain.db.conn.execute("SELECT key, value FROM kv WHERE store = ?", (store,))
        for key, val in rows.fetchall():
            p = chain.app.state.prove(store, bytes(key))
            verify_state_proof(app_hash, store, bytes(key), bytes(val), proof_json(p))


def _set(ops: list[dict[str, Any]], path: list[Any], value: Any) -> list[dict[str, Any]]:
    out = copy.deepcopy(ops)
    target: Any = out
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return out


def _flip(h: str) -> str:
    raw = bytearray(bytes.fromhex(h))
    raw[0] ^= 0x80
    return raw.hex()


TAMPERS = {
    "value aunt": lambda o: _set(o, [0, "proof", "aunts", 0], _flip(o[0]["proof"]["aunts"][0])),
    "store aunt": lambda o: _set(o, [1, "proof", "aunts", -1], _flip(o[1]["proof"]["aunts"][-1])),
    "leaf hash": lambda o: _set(o, [0, "proof", "leaf_hash"], _flip(o[0]["proof"]["leaf_hash"])),
    "index": lambda o: _set(o, [0, "proof", "index"], o[0]["proof"]["index"] - 1),
    "store index": lambda o: _set(o, [1, "proof", "index"], 0),
    "total": lambda o: _set(o, [0, "proof", "total"], 1),
    "dropped aunt": lambda o: _set(o, [0, "proof", "aunts"], o[0]["proof"]["aunts"][:-1]),
    "key": lambda o: _set(o, [0, "key"], b"v/saic:2".hex()),
    "store": lambda o: _set(o, [1, "key"], b"members".hex()),
    "op type": lambda o: _set(o, [0, "type"], "iavl:v"),
    "one op": lambda o: o[:1],
    "swapped ops": lambda o: [o[1], o[0]],
    "not a list": lambda o: {"ops": o},
    "bad hex": lambda o: _set(o, [0, "key"], "zz"),
    "no proof": lambda o: [{"type": "simple:v", "key": o[0]["key"]}, o[1]],
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_invalid_tampered_proof(
    proven: tuple[bytes, bytes, list[dict[str, Any]], Chain], tamper: str
) -> None:
    app_hash, value, ops, _ = proven
    with pytest.raises(InvalidProof):
        verify_state_proof(app_hash, "vehicles", b"v/saic:3", value, TAMPERS[tamper](ops))


def test_invalid_claims(proven: tuple[bytes, bytes, list[dict[str, Any]], Chain]) -> None:
    app_hash, value, ops, chain = proven
    with pytest.raises(InvalidProof):
        verify_state_proof(app_hash, "vehicles", b"v/saic:3", value[:-1], ops)
    with pytest.raises(InvalidProof):
        verify_state_proof(app_hash, "vehicles", b"v/saic:2", value, ops)
    with pytest.raises(InvalidProof):
        verify_state_proof(app_hash, "members", b"v/saic:3", value, ops)
    with pytest.raises(InvalidProof):
        verify_state_proof(b"\x00" * 32, "vehicles", b"v/saic:3", value, ops)
    # An old proof does not verify against a newer app hash.
    chain.send("saic", register_body("saic:9"))
    with pytest.raises(InvalidProof):
        verify_state_proof(chain.app.state.app_hash, "vehicles", b"v/saic:3", value, ops)
