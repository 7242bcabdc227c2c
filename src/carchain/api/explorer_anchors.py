"""Explorer reads of gateway anchors, from the ``anchors`` state store.

An OEM's anchors are numbered ``1..head.seq`` and their heights grow with the
number (one per gateway per block), so the anchor below a height is found by a
binary search. A page reads ``O(G log n + limit)`` anchors for ``G`` gateways
(at most ``MAX_GATEWAYS`` OEM members are considered).

The summary's totals are sums over every anchor: ``AnchorTotals`` keeps them per
gateway in the API process and adds only the anchors committed since the last
request, at most ``MAX_CATCHUP`` per gateway per request (``complete`` is false
until it has caught up). Committed anchors never change, so the sums stay right.
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass, field
from typing import Any

from carchain.api.tx_decode import MemberNames
from carchain.api.view import BackendView
from carchain.core import anchors, members
from carchain.core.state import KVView, compute_key, decode_record
from carchain.node.backend import NodeBackend

MAX_GATEWAYS = 1000
MAX_CATCHUP = 20_000
MAX_SERIES = 100
_KEEP_POINTS = 2 * MAX_SERIES
_PAGE = 1000


def get_gateway_heads(backend: NodeBackend) -> list[tuple[str, anchors.AnchorHead]]:
    """Return ``(oem, head)`` of every OEM member that anchored at least once, by id."""
    view = BackendView(backend)
    out: list[tuple[str, anchors.AnchorHead]] = []
    for _, raw in backend.iterate(members.STORE, members.MEMBER_KEY_PREFIX, MAX_GATEWAYS, b""):
        m = members.decode_member(raw)
        if members.Role.OEM.value not in m.roles:
            continue
        head = anchors.get_anchor_head(view, m.member_id)
        if head.seq:
            out.append((m.member_id, head))
    return out


def find_top_seq(view: KVView, oem: str, head_seq: int, before: int | None) -> int:
    """Return the highest anchor number of ``oem`` whose height is below ``before`` (0: none)."""
    if before is None:
        return head_seq
    lo, hi = 0, head_seq  # invariant: anchor lo is below ``before`` (0: sentinel), hi+1 is not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if anchors.get_anchor(view, oem, mid).height < before:
            lo = mid
        else:
            hi = mid - 1
    return lo


def compute_anchor_item(a: anchors.Anchor, names: MemberNames) -> dict[str, Any]:
    """Return an anchor's listing entry."""
    return {
        "gateway": a.oem,
        "gateway_name": names.get_name_optional(a.oem),
        "seq": a.seq,
        "height": a.height,
        "time_ms": a.time_ms,
        "batches": a.batch_count,
        "records": a.record_count,
        "root": a.root.hex(),
    }


def get_anchor_page(
    view: KVView, heads: list[tuple[str, anchors.AnchorHead]], before: int | None, limit: int
) -> dict[str, Any]:
    """Return up to ``limit`` anchors below height ``before``, newest first, merged over
    ``heads``. A page never splits one height between pages (several gateways may anchor
    in one block), so it may end early, or exceed ``limit`` by the anchors of one height."""
    names = MemberNames(view)
    queue: list[tuple[int, str, int]] = []  # (-height, oem, seq)
    for oem, head in heads:
        seq = find_top_seq(view, oem, head.seq, before)
        if seq:
            heapq.heappush(queue, (-anchors.get_anchor(view, oem, seq).height, oem, seq))
    taken: list[anchors.Anchor] = []
    while queue:
        neg_height, oem, seq = heapq.heappop(queue)
        if len(taken) >= limit and -neg_height != taken[-1].height:
            heapq.heappush(queue, (neg_height, oem, seq))
            break
        taken.append(anchors.get_anchor(view, oem, seq))
        if seq > 1:
            heapq.heappush(queue, (-anchors.get_anchor(view, oem, seq - 1).height, oem, seq - 1))
    trimmed = len(taken) > limit and taken[0].height != taken[-1].height
    if trimmed:
        last = taken[-1].height
        taken = [a for a in taken if a.height != last]
    more = bool(queue) or trimmed
    return {
        "anchors": [compute_anchor_item(a, names) for a in taken],
        "next_before": taken[-1].height if taken and more else None,
    }


@dataclass
class _Totals:
    seq: int = 0
    batches: int = 0
    records: int = 0
    points: list[tuple[int, int, int, int]] = field(default_factory=list)

    def add(self, a: anchors.Anchor) -> None:
        self.seq = a.seq
        self.batches += a.batch_count
        self.records += a.record_count
        self.points.append((a.height, a.time_ms, self.batches, self.records))
        if len(self.points) > _KEEP_POINTS:  # thin out evenly, always keeping the latest
            self.points = self.points[-1::-2][::-1]


def compute_series(points: list[tuple[int, int, int, int]]) -> list[dict[str, int]]:
    """Return at most ``MAX_SERIES`` evenly spread points, the first and latest included."""
    n = len(points)
    picked = points if n <= MAX_SERIES else [
        points[round(i * (n - 1) / (MAX_SERIES - 1))] for i in range(MAX_SERIES)
    ]  # fmt: skip
    return [{"height": h, "time_ms": t, "batches": b, "records": r} for h, t, b, r in picked]


class AnchorTotals:
    """Per-gateway sums over every anchor, kept up to date incrementally."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: dict[str, _Totals] = {}

    def _catch_up(self, backend: NodeBackend, oem: str, head_seq: int) -> _Totals:
        t = self._totals.setdefault(oem, _Totals())
        prefix = compute_key("a", oem) + b"/"
        budget = MAX_CATCHUP
        while t.seq < head_seq and budget > 0:
            after = anchors.compute_anchor_key(oem, t.seq) if t.seq else b""
            page = list(backend.iterate(anchors.STORE, prefix, min(_PAGE, budget), after))
            if not page:
                break
            for _, raw in page:
                a = decode_record(raw, anchors.Anchor)
                if a.seq > head_seq:
                    return t
                t.add(a)
            budget -= len(page)
        return t

    def get_summary(self, backend: NodeBackend) -> dict[str, Any]:
        """Return every anchoring gateway's totals and cumulative series."""
        names = MemberNames(BackendView(backend))
        out = []
        with self._lock:
            for oem, head in get_gateway_heads(backend):
                t = self._catch_up(backend, oem, head.seq)
                out.append(
                    {
                        "gateway": oem,
                        "name": names.get_name_optional(oem),
                        "anchors": head.seq,
                        "batches": t.batches,
                        "records": t.records,
                        "complete": t.seq >= head.seq,
                        "series": compute_series(t.points),
                    }
                )
        return {"gateways": out}
