"""The investigation's time line, read from the chain: each step with its block height
and block time (case records, votes, share releases, receipts, report, closing).

Steps that happen off chain (the witnesses found, an evidence bundle verified) carry the
latest block at that moment (the height the bundle was verified against).
"""

from __future__ import annotations

from collections.abc import Sequence

from carchain.core.cases import get_case
from carchain.core.escrow_releases import get_receipts, get_releases
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client

TimelineEntry = tuple[str, int, int]  # label, block height, time ms


def compute_case_steps(view: ChainView, case_id: int) -> list[TimelineEntry]:
    """Return a case's steps on chain: opened, authorised, approvals, releases, receipts,
    closed (each release and receipt record with its own block)."""
    case = get_case(view, case_id)
    n = f"case {case_id}"
    out: list[TimelineEntry] = [(f"{n} opened by {case.authority}", case.opened_height,
                                 case.opened_ms)]  # fmt: skip
    if case.authorized_height:
        label = f"{n} authorised by {case.court}"
        out.append((label, case.authorized_height, case.authorized_ms))
    out += [(f"{n} approved by {v.member_id}", v.height, v.time_ms) for v in case.approvals]
    released: dict[str, tuple[int, int, int]] = {}  # custodian: shares, height, time
    for r in get_releases(view, case_id):
        count = released.get(r.custodian, (0, 0, 0))[0] + len(r.items)
        released[r.custodian] = (count, r.height, r.time_ms)
    for custodian, (count, height, time_ms) in sorted(released.items()):
        out.append((f"{n} {count} shares released by {custodian}", height, time_ms))
    receipts = get_receipts(view, case_id)
    if receipts:
        last = max(receipts, key=lambda r: r.height)
        label = f"{n} receipts signed by the officer ({len(receipts)})"
        out.append((label, last.height, last.time_ms))
    if case.closed_height:
        out.append((f"{n} closed", case.closed_height, case.closed_ms))
    return out


def compute_timeline(
    client: Client,
    case_ids: Sequence[int],
    off_chain: Sequence[TimelineEntry],
) -> list[TimelineEntry]:
    """Return every step of the cases, plus the off-chain ones, in chain order."""
    view = ChainView(client)
    out = [step for case_id in case_ids for step in compute_case_steps(view, case_id)]
    return sorted([*out, *off_chain], key=lambda e: (e[1], e[2]))
