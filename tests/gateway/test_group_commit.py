"""Group commit: requests that arrive while a store runs go together in the next one;
each gets its own results, only after the store that carried them returned; a failing
store fails exactly its group's requests; a leader never returns before its own
items are stored; concurrent uploads of one batch through the ingestor give one
receipt."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from carchain.errors import CarchainError, NodeUnavailable, ReplayedBatch
from carchain.gateway.group_commit import GroupCommitter
from carchain.gateway.ingest import Receipt
from tests.dataplane import NOW_MS, IngestRig, wait_for


class HeldStore:
    """A store that records its groups and holds the first one until released."""

    def __init__(self, fail_on: str = "") -> None:
        self.groups: list[list[str]] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items: Sequence[str]) -> list[str]:
        self.groups.append(list(items))
        if len(self.groups) == 1:
            self.entered.set()
            assert self.release.wait(30)
        if self.fail_on in items:
            raise OSError("disk full")
        return [item.upper() for item in items]


def run_held(
    store: HeldStore, committer: GroupCommitter[str, str], late: list[list[str]]
) -> list[object]:
    """Submit ``["a"]`` (held in the store), then ``late`` while it is held; release."""
    with ThreadPoolExecutor(len(late) + 1) as pool:
        first = pool.submit(committer.submit, ["a"])
        assert store.entered.wait(30)
        rest = [pool.submit(committer.submit, items) for items in late]
        wait_for(lambda: committer.queued() == len(late), what="the late requests to queue")
        store.release.set()
        outcomes: list[object] = []
        for future in [first, *rest]:
            try:
                outcomes.append(future.result(30))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


def test_requests_arriving_during_a_store_share_the_next_one() -> None:
    store = HeldStore()
    committer = GroupCommitter(store)
    outcomes = run_held(store, committer, [["b", "c"], ["d"], ["e"]])
    assert outcomes == [["A"], ["B", "C"], ["D"], ["E"]]
    assert store.groups[0] == ["a"]
    assert sorted(store.groups[1]) == ["b", "c", "d", "e"]  # one store for all three
    assert committer.stores == 2


def test_a_failing_store_fails_its_group_only_and_the_committer_goes_on() -> None:
    store = HeldStore(fail_on="d")
    committer = GroupCommitter(store)
    outcomes = run_held(store, committer, [["b"], ["d"]])
    assert outcomes[0] == ["A"]
    # b shared d's store: its leader gets the OSError, the other an error of its own
    kinds = sorted(type(o).__name__ for o in outcomes[1:])
    assert kinds == ["NodeUnavailable", "OSError"]
    assert outcomes[1] is not outcomes[2]
    assert committer.submit(["z"]) == ["Z"]


def test_a_store_answering_another_count_fails_its_group() -> None:
    committer: GroupCommitter[str, str] = GroupCommitter(lambda items: ["only one"])
    with pytest.raises(NodeUnavailable, match="answered 1 of 2"):
        committer.submit(["x", "y"])
    assert committer.submit(["z"]) == ["only one"]


def test_an_unexpected_error_checking_one_upload_fails_it_alone(
    rig: IngestRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    cars = [rig.car(f"saic:veh-{i}") for i in range(3)]
    raws = [c.upload().body for c in cars]
    check = rig.ingestor._check_locked

    def buggy(c, taken, pending):  # type: ignore[no-untyped-def]
        if c.signed.header.vehicle_id == "saic:veh-1":
            raise KeyError("a bug on this upload's data")
        return check(c, taken, pending)

    monkeypatch.setattr(rig.ingestor, "_check_locked", buggy)
    outcomes = rig.ingestor.process_batches_at(raws, NOW_MS)
    assert isinstance(outcomes[0], Receipt) and isinstance(outcomes[2], Receipt)
    assert isinstance(outcomes[1], CarchainError) and "KeyError" in outcomes[1].message
    assert "bug" not in outcomes[1].message  # the class only, never the data
    assert rig.ingestor.journal.count_batches() == (2, 0)


def test_a_group_is_capped_and_every_leader_waits_for_its_own_items() -> None:
    store = HeldStore()
    committer = GroupCommitter(store, max_uploads=2)
    outcomes = run_held(store, committer, [["b", "c"], ["d", "e"], ["f"]])
    assert outcomes == [["A"], ["B", "C"], ["D", "E"], ["F"]]
    assert all(len(g) <= 2 for g in store.groups[1:])
    assert sorted(i for g in store.groups for i in g) == list("abcdef")


def test_a_lone_request_is_stored_at_once() -> None:
    store = HeldStore()
    store.release.set()
    committer = GroupCommitter(store)
    assert committer.submit(["x", "y"]) == ["X", "Y"]
    assert committer.submit([]) == []
    assert store.groups == [["x", "y"], []]


def test_concurrent_uploads_of_one_batch_give_one_receipt(rig: IngestRig) -> None:
    car = rig.car("saic:veh-1")
    raw = car.upload().body
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: _try(rig, raw), range(8)))
    receipts = [o for o in outcomes if isinstance(o, Receipt)]
    assert len(receipts) == 1
    assert all(isinstance(o, ReplayedBatch) for o in outcomes if o not in receipts)
    assert rig.ingestor.journal.count_batches() == (1, 0)


def _try(rig: IngestRig, raw: bytes) -> Receipt | ReplayedBatch:
    try:
        return rig.ingestor.process_batch_at(raw, NOW_MS)
    except ReplayedBatch as exc:
        return exc


def test_concurrent_distinct_uploads_are_all_stored(rig: IngestRig) -> None:
    cars = [rig.car(f"saic:veh-{i}") for i in range(12)]
    raws = [c.upload().body for c in cars]
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda r: rig.ingestor.process_batch_at(r, NOW_MS), raws))
    assert all(isinstance(o, Receipt) for o in outcomes)
    assert len({o.received for o in outcomes}) == len(raws)
    assert rig.ingestor.journal.count_batches() == (len(raws), 0)
