"""The light client: trust from a root the node does not control, then forward
(adjacent or skipping with bisection) or backward; chain id, height and freshness.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from carchain.crypto.merkle import compute_kv_leaf, compute_proofs
from carchain.errors import (
    InsufficientTrust,
    InvalidProof,
    NoTrustRoot,
    StaleProof,
    UntrustedHeader,
)
from carchain.sdk import light
from carchain.sdk.light import LightBlock, compute_header_hash
from carchain.sdk.light_client import (
    Provider,
    TrustedHash,
    TrustedValidatorSet,
    query_verified_by_consensus,
    verify_header_at,
    verify_light_block,
)
from tests.sdk.lightchain import Chain, make_chain, make_keys, make_set

START = 1_800_000_000
KEYS = make_keys(4, "member")
NEW = make_keys(4, "newcomer")
STORE, KEY, VALUE = "vehicles", b"v/saic:1", b"active"


def genesis_root(chain_id: str = "carchain-a") -> TrustedValidatorSet:
    return TrustedValidatorSet(chain_id, 1, make_set(KEYS))


def counting(chain: Chain) -> tuple[Provider, list[int]]:
    asked: list[int] = []

    def provide(h: int) -> LightBlock:
        asked.append(h)
        return chain.blocks[h]

    return provide, asked


def test_no_trust_root_is_refused_not_trusted_to_the_node() -> None:
    # The node serves a set of its own keys and a header they signed: consistent, but
    # nothing ties it to the consortium. Without a root, nothing is verified.
    forged = make_chain("carchain-a", {1: make_keys(4, "attacker")}, 5, START)
    lb = forged.blocks[3]
    with pytest.raises(NoTrustRoot):
        light.verify_commit(lb.header, lb.commit, lb.validators, None)
    with pytest.raises(NoTrustRoot):
        verify_header_at(forged.provider(), None, 3, START + 5)


def test_invalid_node_with_its_own_validators_fails_every_root() -> None:
    genuine = make_chain("carchain-a", {1: KEYS}, 5, START)
    forged = make_chain("carchain-a", {1: make_keys(4, "attacker")}, 5, START)
    with pytest.raises(UntrustedHeader, match="not the trusted validator set"):
        verify_header_at(forged.provider(), genesis_root(), 4, START + 5)
    trusted = TrustedHash(2, compute_header_hash(genuine.blocks[2].header), "carchain-a")
    with pytest.raises(UntrustedHeader, match="trusted block hash"):
        verify_header_at(forged.provider(), trusted, 4, START + 5)


def test_genuine_chain_verifies_from_genesis_by_skipping() -> None:
    chain = make_chain("carchain-a", {1: KEYS}, 40, START)
    provide, asked = counting(chain)
    header = verify_header_at(provide, genesis_root(), 40, START + 41)
    assert header == chain.blocks[40].header
    assert asked == [1, 40]  # same set all along: one skip, no intermediate headers


def test_validator_changes_are_followed_by_bisection() -> None:
    # From height 10 half the set is new, from 20 none of the genesis keys remain:
    # 1 -> 30 cannot be trusted in one skip (no genesis key signed 30).
    sets = {1: KEYS, 10: KEYS[:2] + NEW[:2], 20: NEW}
    chain = make_chain("carchain-a", sets, 30, START)
    provide, asked = counting(chain)
    assert verify_header_at(provide, genesis_root(), 30, START + 31) == chain.blocks[30].header
    assert len(asked) > 2 and asked[:2] == [1, 30]


def test_invalid_skip_signed_by_too_little_of_the_trusted_set() -> None:
    # One of four genesis keys (1/4 <= 1/3) in set 5: no skip 1 -> 5. Two (1/2): skip.
    few = make_chain("carchain-a", {1: KEYS, 3: KEYS[:1] + NEW[:3]}, 6, START)
    with pytest.raises(InsufficientTrust, match="1/3"):
        verify_light_block(few.blocks[1], few.blocks[5], START + 6)
    enough = make_chain("carchain-a", {1: KEYS, 3: KEYS[:2] + NEW[:2]}, 6, START)
    verify_light_block(enough.blocks[1], enough.blocks[5], START + 6)
    # With the bridging headers withheld, the node cannot get 5 accepted at all.
    blocks = {h: few.blocks[h] for h in (1, 5)}
    with pytest.raises(KeyError):
        verify_header_at(lambda h: blocks[h], genesis_root(), 5, START + 6)


def test_trusted_hash_verifies_forward_and_backward() -> None:
    chain = make_chain("carchain-a", {1: KEYS, 8: NEW[:3] + KEYS[:1]}, 20, START)
    root = TrustedHash(12, compute_header_hash(chain.blocks[12].header), "carchain-a")
    assert verify_header_at(chain.provider(), root, 20, START + 21) == chain.blocks[20].header
    assert verify_header_at(chain.provider(), root, 3, START + 21) == chain.blocks[3].header
    assert verify_header_at(chain.provider(), root, 12, START + 21) == chain.blocks[12].header


def test_invalid_backward_header_that_breaks_the_hash_chain() -> None:
    chain = make_chain("carchain-a", {1: KEYS}, 10, START)
    root = TrustedHash(8, compute_header_hash(chain.blocks[8].header))
    forged = dataclasses.replace(chain.blocks[5].header, app_hash=b"\x01" * 32)
    chain.blocks[5] = dataclasses.replace(chain.blocks[5], header=forged)
    with pytest.raises(UntrustedHeader, match="last block id"):
        verify_header_at(chain.provider(), root, 4, START + 11)


def test_invalid_commit_of_another_chain_run_by_the_same_validators() -> None:
    other = make_chain("carchain-b", {1: KEYS}, 10, START)
    with pytest.raises(UntrustedHeader, match="another chain"):
        verify_header_at(other.provider(), genesis_root("carchain-a"), 6, START + 11)
    # Trusting a hash of chain b while expecting chain a is refused as well.
    root = TrustedHash(2, compute_header_hash(other.blocks[2].header), "carchain-a")
    with pytest.raises(UntrustedHeader, match="another chain"):
        verify_header_at(other.provider(), root, 6, START + 11)


def test_invalid_header_at_another_height_than_asked() -> None:
    chain = make_chain("carchain-a", {1: KEYS}, 10, START)

    def provide(h: int) -> LightBlock:
        return chain.blocks[h - 1 if h == 9 else h]

    with pytest.raises(UntrustedHeader, match="another height"):
        verify_header_at(provide, genesis_root(), 9, START + 11)


def test_invalid_header_from_the_future_or_not_after_the_trusted_one() -> None:
    chain = make_chain("carchain-a", {1: KEYS}, 10, START)
    with pytest.raises(UntrustedHeader, match="future"):
        verify_header_at(chain.provider(), genesis_root(), 9, START - 100)
    with pytest.raises(UntrustedHeader, match="not above"):
        verify_light_block(chain.blocks[5], chain.blocks[3], START + 11)


def test_invalid_forged_signature_in_a_commit() -> None:
    chain = make_chain("carchain-a", {1: KEYS}, 6, START)
    lb = chain.blocks[5]
    sigs = list(lb.commit.signatures)
    sigs[1] = dataclasses.replace(sigs[1], signature=bytes(64))
    chain.blocks[5] = dataclasses.replace(
        lb, commit=dataclasses.replace(lb.commit, signatures=sigs)
    )
    with pytest.raises(UntrustedHeader, match="does not verify"):
        verify_header_at(chain.provider(), genesis_root(), 5, START + 6)


def test_invalid_commit_missing_two_thirds() -> None:
    chain = make_chain("carchain-a", {1: KEYS}, 6, START, absent={4: {0, 1}})
    with pytest.raises(UntrustedHeader, match="2/3"):
        verify_header_at(chain.provider(), genesis_root(), 4, START + 6)


# --- queries: a state proof against a verified, fresh header -------------------------------


def state_proof() -> tuple[bytes, list[dict[str, Any]]]:
    store_root, (p1,) = compute_proofs([compute_kv_leaf(KEY, VALUE)])
    app_hash, (p2,) = compute_proofs([compute_kv_leaf(STORE.encode(), store_root)])
    ops = [
        {"type": "simple:v", "key": KEY.hex(), "proof": p1.to_dict()},
        {"type": "simple:v", "key": STORE.encode().hex(), "proof": p2.to_dict()},
    ]
    return app_hash, ops


class FakeApi:
    """The untrusted API: answers whatever height and proof it likes."""

    def __init__(self, height: int, ops: list[dict[str, Any]], proof_height: int = 0) -> None:
        self.doc = {"height": height, "value": VALUE.hex(), "proof": ops}
        if proof_height:
            self.doc["proof_height"] = proof_height

    def query(self, store: str, key: bytes, prove: bool = False) -> dict[str, Any]:
        return dict(self.doc)


def test_query_verifies_against_a_fresh_header() -> None:
    app_hash, ops = state_proof()
    chain = make_chain("carchain-a", {1: KEYS}, 30, START, app_hash=app_hash)
    api: Any = FakeApi(29, ops, 30)
    v = query_verified_by_consensus(
        api, chain.provider(), STORE, KEY, genesis_root(), 60, START + 40
    )
    assert (v.value, v.height, v.app_hash) == (VALUE, 30, app_hash)


def test_invalid_old_genuine_commit_proving_stale_state() -> None:
    # Genuine header 10 and a genuine proof, but the chain is at 3000 by now: the
    # vehicle may have been revoked since. The freshness bound refuses it.
    app_hash, ops = state_proof()
    chain = make_chain("carchain-a", {1: KEYS}, 10, START, app_hash=app_hash)
    api: Any = FakeApi(9, ops)
    with pytest.raises(StaleProof):
        query_verified_by_consensus(
            api, chain.provider(), STORE, KEY, genesis_root(), 60, START + 3000
        )
    v = query_verified_by_consensus(
        api, chain.provider(), STORE, KEY, genesis_root(), 5000, START + 3000
    )
    assert v.height == 10


def test_invalid_proof_height_not_state_height_plus_one() -> None:
    app_hash, ops = state_proof()
    chain = make_chain("carchain-a", {1: KEYS}, 10, START, app_hash=app_hash)
    api: Any = FakeApi(5, ops, 9)
    with pytest.raises(InvalidProof, match="state height"):
        query_verified_by_consensus(
            api, chain.provider(), STORE, KEY, genesis_root(), 60, START + 10
        )


def test_query_without_root_is_refused() -> None:
    api: Any = FakeApi(5, [])
    with pytest.raises(NoTrustRoot):
        query_verified_by_consensus(api, lambda h: None, STORE, KEY, None)  # type: ignore[arg-type,return-value]
