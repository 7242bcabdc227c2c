"""erasure.complete: the vehicle's OEM records the crypto-shredding of a request's
scope with a tombstone; once only; never while a legal hold covers part of it."""

from __future__ import annotations

import msgspec
import pytest

from carchain.core import access_log
from carchain.core import erasure as er
from carchain.errors import InvalidBody
from tests.core.erasure_world import (
    CATEGORIES,
    FROM_MS,
    OWNER,
    UNTIL_MS,
    VID,
    advance_to,
    complete_body,
    erasure_genesis,  # noqa: F401
    register,
    request_body,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401


@pytest.fixture(name="requested")
def requested_chain(chain: CoreChain) -> CoreChain:
    register(chain)
    chain.send(OWNER, request_body())
    return chain


def test_complete(requested: CoreChain) -> None:
    body = complete_body()
    result = requested.send("saic", body)
    e = er.get_erasure(requested.state, VID, 0)
    assert (e.status, e.late, e.tombstone_hash) == ("complete", False, body.tombstone_hash)
    assert (e.completed_height, e.completed_ms) == (requested.height, requested.now_ms)
    tomb = er.get_tombstone_optional(requested.state, VID, 0)
    assert tomb == er.Tombstone(VID, 0, body.tombstone_hash, body.destroyed)
    events = {ev.type: ev.attributes for ev in result.events}
    assert events["erasure_completed"] == {"vehicle_id": VID, "seq": "0", "late": "False"}
    newest = access_log.get_access_log_page(requested.state, VID, limit=1)[0]
    assert (newest.kind, newest.actor_member, newest.ref, newest.detail) == (
        "erasure_complete",
        "saic",
        0,
        body.tombstone_hash.hex(),
    )


def test_the_request_marks_the_scope_erased_and_completion_keeps_it(requested: CoreChain) -> None:
    state = requested.state
    assert er.is_erased(state, VID, "diagnostics", FROM_MS, UNTIL_MS)  # from the request on
    requested.send("saic", complete_body())
    for category in CATEGORIES:
        assert er.is_erased(state, VID, category, FROM_MS, UNTIL_MS)
        assert er.is_erased(state, VID, category, UNTIL_MS, UNTIL_MS + 5)  # touches the end
        assert er.is_erased(state, VID, category, 0, FROM_MS)  # touches the start
        assert not er.is_erased(state, VID, category, UNTIL_MS + 1, UNTIL_MS + 9)
        assert not er.is_erased(state, VID, category, 0, FROM_MS - 1)
    assert not er.is_erased(state, VID, "motion", FROM_MS, UNTIL_MS)
    assert not er.is_erased(state, "saic:2", "diagnostics", FROM_MS, UNTIL_MS)


def test_an_open_request_already_stops_processing(requested: CoreChain) -> None:
    """PIPL art. 47: once the owner asks, nothing of the scope is processed, even before
    the custodian shreds its keys."""
    assert er.get_erasure(requested.state, VID, 0).status == "open"
    assert er.is_erased(requested.state, VID, "location", FROM_MS, UNTIL_MS)
    assert not er.is_erased(requested.state, VID, "motion", FROM_MS, UNTIL_MS)


def test_complete_with_no_key_copies(requested: CoreChain) -> None:
    # A scope the custodian held no key of (e.g. sensitive keys sealed to the owner only).
    requested.send("saic", complete_body(n_refs=0))
    assert er.get_erasure(requested.state, VID, 0).status == "complete"


def test_complete_out_of_order(requested: CoreChain) -> None:
    requested.send(OWNER, request_body(categories=["motion"]))
    requested.send("saic", complete_body(seq=1))
    requested.send("saic", complete_body(seq=0))
    assert [e.status for e in er.get_erasures(requested.state, VID)] == ["complete"] * 2


def test_complete_after_the_deadline_is_late(requested: CoreChain) -> None:
    deadline = er.get_erasure(requested.state, VID, 0).deadline_ms
    advance_to(requested, deadline + 1)
    requested.send("saic", complete_body())
    e = er.get_erasure(requested.state, VID, 0)
    assert (e.status, e.late) == ("complete", True)


def test_complete_at_the_deadline_is_on_time(requested: CoreChain) -> None:
    advance_to(requested, er.get_erasure(requested.state, VID, 0).deadline_ms)
    requested.send("saic", complete_body())
    assert er.get_erasure(requested.state, VID, 0).late is False


def test_invalid_complete_twice(requested: CoreChain) -> None:
    requested.send("saic", complete_body())
    assert requested.reject("saic", complete_body()) == "erasure_not_open"


def test_invalid_complete_replay(requested: CoreChain) -> None:
    raw = requested.build("saic", complete_body())
    assert requested.submit(raw).ok
    requested.block()
    before = requested.state.snapshot()
    assert requested.submit(raw).error_code == "invalid_nonce"
    assert requested.include(raw)[0].error_code == "invalid_nonce"
    assert requested.state.snapshot() == before


def test_invalid_complete_unknown_request(requested: CoreChain) -> None:
    assert requested.reject("saic", complete_body(seq=1)) == "not_found"
    assert requested.reject("saic", complete_body(vid="saic:404")) == "not_found"


@pytest.mark.parametrize(
    "change",
    [
        {"destroyed": [b"k" * 31]},
        {"destroyed": [b"k" * 33]},
        {"destroyed": [b"k" * 32, b"k" * 32]},
        {"tombstone_hash": b""},
        {"tombstone_hash": b"t" * 31},
    ],
)
def test_invalid_complete_body(requested: CoreChain, change: dict[str, object]) -> None:
    body = msgspec.structs.replace(complete_body(), **change)
    assert requested.reject("saic", body) == "invalid_body"


def test_invalid_complete_more_key_refs_than_the_rule_allows() -> None:
    # The envelope's 64 KiB limit refuses such a body first (tx_too_large); the rule
    # itself still bounds the list, for any future larger envelope.
    with pytest.raises(InvalidBody, match="at most 4096"):
        er.validate_destroyed([i.to_bytes(32, "big") for i in range(er.MAX_DESTROYED + 1)])
    er.validate_destroyed([i.to_bytes(32, "big") for i in range(er.MAX_DESTROYED)])


def test_invalid_complete_too_large_for_one_transaction(requested: CoreChain) -> None:
    refs = [i.to_bytes(32, "big") for i in range(er.MAX_DESTROYED)]
    body = msgspec.structs.replace(complete_body(), destroyed=refs)
    assert requested.reject("saic", body) == "tx_too_large"


def test_complete_with_many_key_refs(requested: CoreChain) -> None:
    refs = [i.to_bytes(32, "big") for i in range(1800)]  # what fits one 64 KiB transaction
    requested.send("saic", msgspec.structs.replace(complete_body(), destroyed=refs))
    tomb = er.get_tombstone_optional(requested.state, VID, 0)
    assert tomb is not None and tomb.destroyed == refs


class _CountingView:
    """A read-only view over a chain's state that counts the reads of one store."""

    def __init__(self, chain: CoreChain, store: str) -> None:
        self.chain, self.store, self.reads = chain, store, 0

    def get(self, store: str, key: bytes) -> bytes | None:
        if store == self.store:
            self.reads += 1
        return self.chain.state.get(store, key)


def _erase(chain: CoreChain, seq: int, from_ms: int, until_ms: int) -> None:
    chain.send(OWNER, request_body(categories=["diagnostics"], from_ms=from_ms, until_ms=until_ms))
    chain.send("saic", complete_body(seq=seq))


def test_is_erased_cost_does_not_grow_with_completed_erasures(chain: CoreChain) -> None:
    """Every access request reads the erased windows of its categories: an owner whose
    erasures the custody service completes one after another must not make that grow."""
    register(chain)
    for seq in range(30):
        _erase(chain, seq, 10_000 * seq, 10_000 * seq + 999)  # disjoint windows
    view = _CountingView(chain, er.STORE)
    assert not er.is_erased(view, VID, "diagnostics", 5_000, 5_999)  # type: ignore[arg-type]
    assert view.reads <= 2
    assert er.is_erased(chain.state, VID, "diagnostics", 290_999, 290_999)
    assert not er.is_erased(chain.state, VID, "diagnostics", 291_000, 299_999)


def test_erased_windows_merge_and_stay_bounded() -> None:
    """Windows are kept sorted and disjoint; past the bound the two closest merge, which
    only ever widens what reads as erased (a request is refused, never let through)."""
    windows: list[tuple[int, int]] = []
    for w in [(10, 19), (30, 39), (20, 29), (100, 100)]:
        windows = er.compute_merged_windows(windows, w)
    assert windows == [(10, 39), (100, 100)]
    windows = []
    for n in range(er.MAX_ERASED_WINDOWS + 5):
        windows = er.compute_merged_windows(windows, (n * 10, n * 10 + 1 + (n == 7)))
    assert len(windows) == er.MAX_ERASED_WINDOWS
    assert windows == sorted(windows)
    covered = [(n * 10, n * 10 + 1) for n in range(er.MAX_ERASED_WINDOWS + 5)]
    assert all(any(a <= lo and hi <= b for a, b in windows) for lo, hi in covered)
