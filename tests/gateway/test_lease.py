"""The anchoring lease in the shared journal: one holder at a time, even for contenders in
separate processes; an expired holder cannot renew once another took it, and its
fenced anchor writes are refused without a trace; the keeper's own reckoning ends
before the expiry others see."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import cast

import pytest

from carchain.errors import LeaseLost
from carchain.gateway.journal import Journal
from carchain.gateway.lease import Fence, now_ms
from carchain.gateway.lease_keeper import LeaseKeeper, make_instance_id
from tests.gateway.test_journal_counters import anchor, new_batch


class Clock:
    """A settable wall clock (ms) and monotonic clock (s) that move together."""

    def __init__(self) -> None:
        self.ms = 1_000_000

    def wall(self) -> int:
        return self.ms

    def mono(self) -> float:
        return self.ms / 1000


def test_two_contenders_never_both_hold_the_lease(tmp_path: Path) -> None:
    a, b = Journal(tmp_path / "j.db"), Journal(tmp_path / "j.db")  # two connections
    fa = a.acquire_lease("a", 1000, 500)
    assert fa == Fence("a", 1)
    assert b.acquire_lease("b", 1000, 500) is None  # held
    assert b.acquire_lease("b", 1499, 500) is None  # held until its last ms
    assert a.renew_lease(fa, 1400, 500)  # expiry now 1900
    assert b.acquire_lease("b", 1899, 500) is None
    fb = b.acquire_lease("b", 1900, 500)
    assert fb == Fence("b", 2)  # expired: taken, the epoch moves on
    state = a.get_lease_optional()
    assert state is not None and (state.holder, state.epoch, state.expires_ms) == ("b", 2, 2400)


def test_an_expired_holder_cannot_renew_once_another_took_the_lease(tmp_path: Path) -> None:
    a, b = Journal(tmp_path / "j.db"), Journal(tmp_path / "j.db")
    fa = a.acquire_lease("a", 0, 100)
    assert fa is not None
    fb = b.acquire_lease("b", 150, 100)
    assert fb is not None
    assert not a.renew_lease(fa, 160, 100)
    assert a.acquire_lease("a", 160, 100) is None  # nor take it back while b holds it
    assert b.renew_lease(fb, 160, 100)
    state = b.get_lease_optional()
    assert state is not None and (state.holder, state.epoch, state.expires_ms) == ("b", 2, 260)


def test_an_expired_lease_nobody_took_is_still_its_holders(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    fence = journal.acquire_lease("a", 0, 100)
    assert fence is not None and journal.renew_lease(fence, 500, 100)
    assert journal.get_lease_optional() == journal.get_lease_optional()  # stable read
    state = journal.get_lease_optional()
    assert state is not None and (state.epoch, state.expires_ms) == (1, 600)


def test_a_second_process_with_the_same_id_does_not_share_the_lease(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    assert journal.acquire_lease("same", 0, 100) == Fence("same", 1)
    assert journal.acquire_lease("same", 50, 100) is None
    assert journal.acquire_lease("same", 100, 100) == Fence("same", 2)


def test_a_lease_given_up_is_taken_at_once_and_the_old_fence_renews_no_more(
    tmp_path: Path,
) -> None:
    a, b = Journal(tmp_path / "j.db"), Journal(tmp_path / "j.db")
    fa = a.acquire_lease("a", 0, 10_000)
    assert fa is not None
    b.give_up_lease(Fence("a", 99))  # another epoch's fence gives up nothing
    assert b.acquire_lease("b", 1, 10_000) is None
    a.give_up_lease(fa)
    assert b.acquire_lease("b", 1, 10_000) == Fence("b", 2)
    assert not a.renew_lease(fa, 2, 10_000)


def test_a_lease_of_no_time_is_refused(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    with pytest.raises(ValueError):
        journal.acquire_lease("a", 0, 0)
    assert journal.get_lease_optional() is None
    with pytest.raises(ValueError):
        LeaseKeeper(journal, "a", 0)
    with pytest.raises(ValueError):
        LeaseKeeper(journal, "", 1)


def _contend(path: Path, holder: str, rounds: int, out: multiprocessing.Queue[object]) -> None:
    """Try to take the lease ``rounds`` times with a short life; report the epochs won."""
    journal = Journal(path)
    won = []
    for _ in range(rounds):
        fence = journal.acquire_lease(holder, 0, 1)  # at 0 ms, lasting 1 ms
        if fence is not None:
            won.append(fence.epoch)
            journal.give_up_lease(fence)  # expired at once: the next try may take it
    journal.close()
    out.put((holder, won))


def test_contenders_in_separate_processes_take_each_epoch_once(tmp_path: Path) -> None:
    Journal(tmp_path / "j.db").close()  # the schema, before the processes race on it
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[object] = ctx.Queue()
    procs = [
        ctx.Process(target=_contend, args=(tmp_path / "j.db", f"p{i}", 60, out)) for i in range(3)
    ]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
                p.join(30)
    epochs = [e for _, won in cast(list[tuple[str, list[int]]], results) for e in won]
    # A try loses while another process holds the lease; each epoch went to one winner.
    assert 1 <= len(epochs) <= 180
    assert sorted(epochs) == list(range(1, len(epochs) + 1))


def test_fenced_anchor_writes_are_refused_once_the_lease_moved(tmp_path: Path) -> None:
    old, new = Journal(tmp_path / "j.db"), Journal(tmp_path / "j.db")
    old.add_batches([new_batch(i) for i in range(4)])
    t = now_ms()  # fenced writes compare the lease with the wall clock
    fence_old = old.acquire_lease("old", t - 10, 1)  # expired already
    assert fence_old is not None
    fence_new = new.acquire_lease("new", t, 60_000)
    assert fence_new is not None
    rows = old.get_unanchored(10)
    with pytest.raises(LeaseLost):
        old.add_anchor(anchor(1, 4), [r.header_hash for r in rows], fence_old)
    assert old.get_anchor_optional(1) is None and len(old.get_unanchored(10)) == 4
    with pytest.raises(LeaseLost):
        old.validate_fence(fence_old)
    new.add_anchor(anchor(1, 4), [r.header_hash for r in rows], fence_new)
    assert new.get_anchor_epoch(1) == 2
    with pytest.raises(LeaseLost):
        old.replace_anchor_tx(1, b"stale", b"\x09" * 32, fence_old)
    with pytest.raises(LeaseLost):
        old.confirm_anchor(1, 5, fence_old)
    with pytest.raises(LeaseLost):
        old.release_anchor(1, fence=fence_old)
    row = new.get_anchor_optional(1)
    assert row is not None and row.tx == b"tx-1" and row.height == 0
    assert new.get_unanchored(10) == []
    new.replace_anchor_tx(1, b"fresh", b"\x08" * 32, fence_new)
    new.confirm_anchor(1, 5, fence_new)
    assert new.count_batches() == (4, 4)


def test_an_anchor_is_refused_if_another_covers_any_of_its_batches(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    journal.add_batches([new_batch(i) for i in range(3)])
    rows = journal.get_unanchored(10)  # a view taken before another anchor was built
    journal.add_anchor(anchor(1, 1), [rows[0].header_hash])
    with pytest.raises(LeaseLost):
        journal.add_anchor(anchor(2, 3), [r.header_hash for r in rows])
    assert journal.get_anchor_optional(2) is None
    assert [r.header_hash for r in journal.get_unanchored(10)] == [r.header_hash for r in rows[1:]]


def test_the_keeper_stops_believing_before_the_others_see_the_lease_expire(
    tmp_path: Path,
) -> None:
    clock = Clock()
    journal = Journal(tmp_path / "j.db")
    keeper = LeaseKeeper(journal, "a", 1.0, wall_ms=clock.wall, monotonic=clock.mono)
    rival = LeaseKeeper(journal, "b", 1.0, wall_ms=clock.wall, monotonic=clock.mono)
    assert keeper.tick() == Fence("a", 1) and keeper.current() == Fence("a", 1)
    assert rival.tick() is None and rival.current() is None
    clock.ms += 799
    assert keeper.current() is not None
    clock.ms += 1  # 80% of the lease: a holds it still, but no longer believes it does
    assert keeper.current() is None and rival.tick() is None
    clock.ms += 200  # expired: the rival takes it; the old holder's tick finds it lost
    assert rival.tick() == Fence("b", 2) and rival.current() == Fence("b", 2)
    assert keeper.tick() is None and keeper.current() is None
    rival.stop()  # a clean stop gives it up: the old holder takes it at once
    assert rival.current() is None
    assert keeper.tick() == Fence("a", 3)


def test_instance_ids_are_distinct() -> None:
    assert len({make_instance_id() for _ in range(20)}) == 20


@pytest.mark.parametrize("ttl_ms", [0, 10, 999, 600_001])
def test_invalid_lease_ttl_in_gateway_json_is_refused(tmp_path: Path, ttl_ms: int) -> None:
    import json

    from carchain.errors import GatewayConfigError
    from carchain.gateway.server import GatewayConfig, get_config_path, load_config, save_config

    save_config(tmp_path / "home", GatewayConfig("saic", "k.json", "00" * 32, "http://127.0.0.1:1"))
    path = get_config_path(tmp_path / "home")
    path.write_text(json.dumps(json.loads(path.read_text()) | {"lease_ttl_ms": ttl_ms}))
    with pytest.raises(GatewayConfigError):
        load_config(tmp_path / "home")
    path.write_text(json.dumps(json.loads(path.read_text()) | {"lease_ttl_ms": 1_000}))
    assert load_config(tmp_path / "home").lease_ttl_ms == 1_000
