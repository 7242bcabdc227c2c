"""Cases built from records, driven through the SEEN hooks exactly where ``cases`` calls them.

The tests of the notice, the indexes and the counters need cases in given states at
given block times; they write ``Case`` and ``ShareRelease`` records (the shared
interface of ``core/case_records``) and call the hooks as ``case.open``,
``case.authorize``, ``escrow.release`` and ``case.extend_notice`` do, inside one
``WriteBuffer`` per step, then let ``CoreChain.block`` run the end-of-block steps.
"""

from __future__ import annotations

import hashlib

import msgspec

from carchain.core import case_index, case_notice, transparency
from carchain.core.case_records import (
    DAY_MS,
    STORE,
    Case,
    CaseScope,
    CaseState,
    CaseVote,
    ShareItem,
    ShareRelease,
)
from carchain.core.state import WriteBuffer, compute_key, get_record, put_record
from carchain.core.types import BlockContext
from tests.core.memory import PROPOSER, CoreChain

CASE_REF = hashlib.sha256(b"police file 2026-0042").digest()
OPENED = CaseScope(["saic:1", "saic:2"], ["diagnostics", "location"], 0, 3 * DAY_MS)


def ctx_of(chain: CoreChain) -> BlockContext:
    """Return the context of the next block (as a transaction in it would see)."""
    return BlockContext(chain.chain_id, chain.state.height + 1, chain.now_ms + 1000, PROPOSER)


def get_case(chain: CoreChain, case_id: int) -> Case:
    """Return a stored case."""
    return get_record(chain.state, STORE, compute_key("c", case_id), Case, "case")


def _store(view: WriteBuffer, ctx: BlockContext, before: Case | None, after: Case) -> None:
    put_record(view, STORE, compute_key("c", after.case_id), after)
    transparency.process_transition(view, ctx, before, after)


def open_case(chain: CoreChain, case_id: int = 1, scope: CaseScope = OPENED) -> Case:
    """Store a new open case (authority ``police``) as ``case.open`` would; return it."""
    ctx = ctx_of(chain)
    view = WriteBuffer(chain.state)
    case = Case(
        case_id,
        CASE_REF,
        "rtsl_accident",
        "police",
        chain.key("officer").public_key,
        hashlib.sha256(b"justification").digest(),
        scope,
        ctx.height,
        ctx.time_ms,
    )
    _store(view, ctx, None, case)
    view.set(STORE, b"cn", case_id.to_bytes(8, "big"))
    view.flush()
    chain.block()
    return case


def authorize(
    chain: CoreChain, case_id: int = 1, delay_ms: int = 10 * DAY_MS, court: str = "court1"
) -> Case:
    """Authorise a stored open case as ``case.authorize`` would (whole scope); return it."""
    ctx = ctx_of(chain)
    view = WriteBuffer(chain.state)
    before = get_case(chain, case_id)
    after = msgspec.structs.replace(
        before,
        state=CaseState.AUTHORIZED,
        scope=before.opened_scope,
        court=court,
        authorized_height=ctx.height,
        authorized_ms=ctx.time_ms,
        expires_ms=ctx.time_ms + 30 * DAY_MS,
        notice_delay_ms=delay_ms,
        notice_due_ms=ctx.time_ms + delay_ms,
    )
    _store(view, ctx, before, after)
    case_index.process_authorized(view, ctx, after)
    case_notice.process_schedule(view, after)
    view.flush()
    chain.block()
    return after


def vote(chain: CoreChain, member: str, approve: bool = True, case_id: int = 1) -> None:
    """Record an approval (or a decline) as ``case.approve`` would."""
    ctx = ctx_of(chain)
    view = WriteBuffer(chain.state)
    before = get_case(chain, case_id)
    v = CaseVote(member, ctx.height, ctx.time_ms, "" if approve else "scope_too_broad")
    if approve:
        after = msgspec.structs.replace(before, approvals=[*before.approvals, v])
    else:
        after = msgspec.structs.replace(before, declines=[*before.declines, v])
    _store(view, ctx, before, after)
    view.flush()
    chain.block()


def release(
    chain: CoreChain,
    items: list[tuple[str, int, str]],
    custodian: str = "auditor",
    case_id: int = 1,
) -> ShareRelease:
    """Store a share release of (vehicle, epoch, category) items as ``escrow.release`` would."""
    ctx = ctx_of(chain)
    view = WriteBuffer(chain.state)
    before = get_case(chain, case_id)
    raw = view.get(STORE, compute_key("crn", case_id))
    seq = 0 if raw is None else int.from_bytes(raw, "big")
    shares = [ShareItem(v, e, c, 2, b"\x00" * 80) for v, e, c in items]
    rel = ShareRelease(case_id, seq, custodian, shares, ctx.height, ctx.time_ms)
    put_record(view, STORE, compute_key("cr", case_id, seq), rel)
    view.set(STORE, compute_key("crn", case_id), (seq + 1).to_bytes(8, "big"))
    after = msgspec.structs.replace(before, released_keys=before.released_keys + len(items))
    _store(view, ctx, before, after)
    case_index.process_release(view, ctx, after, rel)
    case_notice.process_release(view, ctx, after, rel)
    view.flush()
    chain.block()
    return rel


def extend(chain: CoreChain, delay_ms: int, case_id: int = 1) -> Case:
    """Lengthen the notice delay as ``case.extend_notice`` would; return the case."""
    ctx = ctx_of(chain)
    view = WriteBuffer(chain.state)
    before = get_case(chain, case_id)
    after = msgspec.structs.replace(
        before,
        notice_delay_ms=delay_ms,
        notice_due_ms=before.authorized_ms + delay_ms,
        notice_extensions=before.notice_extensions + 1,
    )
    _store(view, ctx, before, after)
    case_notice.process_schedule(view, after)
    view.flush()
    chain.block()
    return after


def close(chain: CoreChain, case_id: int = 1) -> Case:
    """Close a case as ``case.close`` would."""
    ctx = ctx_of(chain)
    view = WriteBuffer(chain.state)
    before = get_case(chain, case_id)
    after = msgspec.structs.replace(
        before, state=CaseState.CLOSED, closed_height=ctx.height, closed_ms=ctx.time_ms
    )
    _store(view, ctx, before, after)
    view.flush()
    chain.block()
    return after
