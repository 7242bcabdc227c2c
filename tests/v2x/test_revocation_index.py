"""The revocation index: revoked linkage values per period from the chain's seeds."""

from __future__ import annotations

import hashlib

import pytest

from carchain.core import v2x_revocation as rvk
from carchain.crypto import linkage as lk
from carchain.v2x import revocation_index as ri
from tests.core.v2x_world import LA1_ID, LA2_ID, World, scms_world  # noqa: F401


def lv_at(s1: bytes, s2: bytes, j: int) -> bytes:
    """lv(i, j) computed the long way (per-LA PLVs), independent of the index's batch path."""
    return lk.compute_linkage_value(lk.compute_plv(LA1_ID, s1, j), lk.compute_plv(LA2_ID, s2, j))


def revoke(w: World, j: int = 4) -> int:
    w.chain.send("mama", rvk.Revoke(w.ca_id, w.lv(j), w.period))
    w.chain.send("caam", rvk.ReleaseSeed(1, w.seed1))
    w.chain.send("cstc", rvk.ReleaseSeed(1, w.seed2))
    return rvk.get_revocation(w.chain.state, 1).i_period


def test_index_from_chain_rejects_current_and_future_certificates(world: World) -> None:
    i = revoke(world)
    index = ri.build_revocation_index(world.chain.state)
    for j in (0, 4, 19, rvk.MAX_J - 1):
        assert index.is_revoked(lv_at(world.seed1, world.seed2, j), i)
    n1, n2 = lk.compute_next_seed(LA1_ID, world.seed1), lk.compute_next_seed(LA2_ID, world.seed2)
    assert index.is_revoked(lv_at(n1, n2, 7), i + 1)
    f1, f2 = lk.compute_seed_at(LA1_ID, world.seed1, 5), lk.compute_seed_at(LA2_ID, world.seed2, 5)
    assert index.is_revoked(lv_at(f1, f2, 2), i + 5)


def test_index_never_links_earlier_periods(world: World) -> None:
    # Build the car's seeds so that period i's seeds are the ones the LAs release: the
    # car's certificates of period i-1 (from the previous seeds) must stay unrevoked.
    prev1, prev2 = hashlib.sha256(b"p1").digest()[:16], hashlib.sha256(b"p2").digest()[:16]
    world.seed1, world.seed2 = (
        lk.compute_next_seed(LA1_ID, prev1),
        lk.compute_next_seed(LA2_ID, prev2),
    )
    i = revoke(world)
    index = ri.build_revocation_index(world.chain.state)
    assert not any(index.is_revoked(lv_at(prev1, prev2, j), i - 1) for j in range(rvk.MAX_J))
    assert not index.is_revoked(lv_at(world.seed1, world.seed2, 3), i - 1)
    assert index.is_revoked(lv_at(world.seed1, world.seed2, 3), i)


def test_other_vehicles_and_values_beyond_max_j_are_not_revoked(world: World) -> None:
    i = revoke(world)
    index = ri.build_revocation_index(world.chain.state)
    other1, other2 = b"\x01" * 16, b"\x02" * 16
    assert not any(index.is_revoked(lv_at(other1, other2, j), i) for j in range(20))
    assert not index.is_revoked(lv_at(world.seed1, world.seed2, rvk.MAX_J), i)


def test_pending_decisions_join_the_index_when_completed(world: World) -> None:
    world.chain.send("mama", rvk.Revoke(world.ca_id, world.lv(1), world.period))
    world.chain.send("caam", rvk.ReleaseSeed(1, world.seed1))
    index = ri.build_revocation_index(world.chain.state)
    i = rvk.get_revocation(world.chain.state, 1).i_period
    assert not index.is_revoked(world.lv(1), i)  # one seed alone revokes nothing
    assert index.process_refresh(world.chain.state) == 0
    world.chain.send("cstc", rvk.ReleaseSeed(1, world.seed2))
    assert index.process_refresh(world.chain.state) == 1
    assert index.is_revoked(world.lv(1), i)
    assert index.process_refresh(world.chain.state) == 0


def test_cost_per_message_does_not_grow_with_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = ri.compute_linkage_values

    def counting(*args: object) -> list[bytes]:
        calls["n"] += 1
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(ri, "compute_linkage_values", counting)
    index = ri.RevocationIndex(j_count=8)
    seeds = [hashlib.sha256(b"%d" % k).digest() for k in range(300)]
    for k in range(150):
        index.process_add(ri.RevokedSeeds(1, 2, 100, seeds[2 * k][:16], seeds[2 * k + 1][:16]))
    probe = b"\x00" * 9
    for _ in range(2000):
        index.is_revoked(probe, 100)
    assert calls["n"] == 150  # once per revoked vehicle for the period, never per message
    assert len(index.compute_period_values(100)) == 150 * 8
