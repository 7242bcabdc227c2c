"""core.access_log: appending events and pointers, and newest-first paging with bad
cursors and limits refused."""

from __future__ import annotations

import pytest

from carchain.core import access_log as log
from carchain.core.types import BlockContext
from carchain.errors import InvalidBody
from tests.conftest import CHAIN_ID
from tests.core.memory import PROPOSER, MemoryView

OWNER_KEY = b"\x07" * 32


def _ctx(height: int) -> BlockContext:
    return BlockContext(
        chain_id=CHAIN_ID, height=height, time_ms=1_700_000_000_000 + height, proposer=PROPOSER
    )


def _fill(view: MemoryView, plan: list[tuple[str, int]]) -> None:
    for n, (vehicle_id, count) in enumerate(plan, start=1):
        for i in range(count):
            log.process_append_event(
                view, _ctx(n), log.EventKind.REQUEST, vehicle_id, OWNER_KEY, "", i, ["diagnostics"]
            )


def test_append_counts_per_vehicle_and_points_from_the_oem() -> None:
    view = MemoryView()
    _fill(view, [("saic:1", 2), ("geely:1", 1), ("saic:2", 1)])
    assert (log.get_log_size(view, "saic:1"), log.get_log_size(view, "saic:2")) == (2, 1)
    assert (log.get_oem_log_size(view, "saic"), log.get_oem_log_size(view, "geely")) == (3, 1)
    assert view.get(log.STORE, log.compute_log_size_key("saic:1")) == (2).to_bytes(8, "big")
    assert view.get(log.STORE, log.compute_oem_log_size_key("saic")) == (3).to_bytes(8, "big")
    event = log.get_event_optional(view, "saic:1", 1)
    assert event is not None and (event.seq, event.ref, event.height) == (1, 1, 1)
    assert log.get_event_optional(view, "saic:1", 2) is None


def test_page_newest_first_across_boundaries() -> None:
    view = MemoryView()
    _fill(view, [("saic:1", 7)])
    pages, before = [], None
    while True:
        page = log.get_access_log_page(view, "saic:1", before, 3)
        pages.append([e.seq for e in page])
        if not page or page[-1].seq == 0:
            break
        before = page[-1].seq
    assert pages == [[6, 5, 4], [3, 2, 1], [0]]


def test_oem_page_interleaves_vehicles_newest_first() -> None:
    view = MemoryView()
    _fill(view, [("saic:1", 2), ("saic:2", 1), ("saic:1", 1)])
    page = log.get_oem_access_log_page(view, "saic", None, 10)
    assert [(o, e.vehicle_id, e.seq) for o, e in page] == [
        (3, "saic:1", 2),
        (2, "saic:2", 0),
        (1, "saic:1", 1),
        (0, "saic:1", 0),
    ]
    assert [o for o, _ in log.get_oem_access_log_page(view, "saic", 2, 10)] == [1, 0]


def test_empty_log_and_cursor_edges() -> None:
    view = MemoryView()
    assert log.get_access_log_page(view, "saic:1") == []
    assert log.get_oem_access_log_page(view, "saic") == []
    _fill(view, [("saic:1", 3)])
    assert [e.seq for e in log.get_access_log_page(view, "saic:1", 10**9, 5)] == [2, 1, 0]
    assert log.get_access_log_page(view, "saic:1", 0, 5) == []
    assert log.compute_page_seqs(3, None, 100) == [2, 1, 0]
    assert log.compute_page_seqs(250, 120, 100) == list(range(119, 19, -1))


@pytest.mark.parametrize("limit", [0, -1, log.MAX_PAGE + 1])
def test_invalid_limit_is_refused(limit: int) -> None:
    with pytest.raises(InvalidBody) as exc:
        log.compute_page_seqs(5, None, limit)
    assert exc.value.fields == {"value": str(limit)}
    with pytest.raises(InvalidBody):
        log.get_access_log_page(MemoryView(), "saic:1", None, limit)


def test_invalid_negative_cursor_is_refused() -> None:
    with pytest.raises(InvalidBody):
        log.compute_page_seqs(5, -1, 10)
    with pytest.raises(InvalidBody):
        log.get_oem_access_log_page(MemoryView(), "saic", -1, 10)
