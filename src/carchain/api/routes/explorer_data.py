"""The explorer's public read API: overview, block, proposal and anchor listings, search.

Every route reads a bounded amount of state or blocks per request (see
docs/explorer-api.md for each bound); none scans the chain.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request

from carchain.api.deps import get_backend
from carchain.api.explorer_anchors import AnchorTotals, get_anchor_page, get_gateway_heads
from carchain.api.explorer_chain import MAX_BLOCK_PAGE, CountsCache, get_block_page, get_overview
from carchain.api.explorer_models import (
    AnchorPage,
    AnchorSummary,
    BlockPage,
    OverviewOut,
    ProposalPage,
    SearchHit,
)
from carchain.api.explorer_registry import get_proposal_page
from carchain.api.explorer_search import find_hit
from carchain.api.schemas import compute_error_responses
from carchain.api.view import BackendView
from carchain.core import anchors, members
from carchain.node.backend import NodeBackend

router = APIRouter(tags=["explorer"])
Backend = Annotated[NodeBackend, Depends(get_backend)]
Before = Annotated[int | None, Query(ge=1, lt=2**63, description="Exclusive upper bound.")]
PageLimit = Annotated[int, Query(ge=1, le=MAX_BLOCK_PAGE)]
StatusFilter = Literal["open", "passed", "executed", "failed", "rejected", "expired"]
_state_lock = threading.Lock()


def get_counts_cache(request: Request) -> CountsCache:
    """Return the app's overview counts cache (created on first use)."""
    with _state_lock:
        if not hasattr(request.app.state, "explorer_counts"):
            request.app.state.explorer_counts = CountsCache()
        return request.app.state.explorer_counts  # type: ignore[no-any-return]


def get_anchor_totals(request: Request) -> AnchorTotals:
    """Return the app's running anchor totals (created on first use)."""
    with _state_lock:
        if not hasattr(request.app.state, "explorer_anchor_totals"):
            request.app.state.explorer_anchor_totals = AnchorTotals()
        return request.app.state.explorer_anchor_totals  # type: ignore[no-any-return]


@router.get("/overview", response_model=OverviewOut)
def overview(
    backend: Backend, cache: Annotated[CountsCache, Depends(get_counts_cache)]
) -> dict[str, Any]:
    """The chain at a glance: height, block time, validators, mempool, counts and the
    transactions of the last up to 50 blocks. Reads at most 51 blocks; the counts are
    computed once per height and bounded (a count at its bound is named in
    ``counts_capped``)."""
    return get_overview(backend, cache)


@router.get("/blocks", response_model=BlockPage, responses=compute_error_responses(422))
def list_blocks(backend: Backend, before: Before = None, limit: PageLimit = 20) -> dict[str, Any]:
    """List blocks below height ``before`` (default: from the latest), newest first,
    ``limit`` 1..100. ``next_before`` is the cursor of the next page (null at block 1)."""
    return get_block_page(backend, before, limit)


@router.get("/proposals", response_model=ProposalPage, responses=compute_error_responses(422))
def list_proposals(
    backend: Backend,
    status: StatusFilter | None = None,
    before: Before = None,
    limit: PageLimit = 20,
) -> dict[str, Any]:
    """List governance proposals with ids below ``before``, newest first, optionally of
    one ``status`` (``passed`` is an alias of ``executed``). One request examines at most
    500 ids, so a filtered page may hold fewer than ``limit``: follow ``next_before``."""
    height = backend.status().height
    return get_proposal_page(BackendView(backend), height + 1, status, before, limit)


@router.get("/anchors", response_model=AnchorPage, responses=compute_error_responses(404, 422))
def list_anchors(
    backend: Backend,
    gateway: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    before: Before = None,
    limit: PageLimit = 20,
) -> dict[str, Any]:
    """List anchor transactions below height ``before``, newest first, of every gateway or
    of one (``gateway``: its OEM's member id; 404 if no such member). A page never splits
    the anchors of one block between pages."""
    view = BackendView(backend)
    if gateway is None:
        heads = get_gateway_heads(backend)
    else:
        oem = members.get_member(view, gateway)
        heads = [(oem.member_id, anchors.get_anchor_head(view, oem.member_id))]
    return get_anchor_page(view, [(o, h) for o, h in heads if h.seq], before, limit)


@router.get("/anchors/summary", response_model=AnchorSummary)
def anchor_summary(
    backend: Backend, totals: Annotated[AnchorTotals, Depends(get_anchor_totals)]
) -> dict[str, Any]:
    """Per gateway: anchors, batches and records in total, and their cumulative series
    (at most 100 points). The node sums each anchor once and adds only new ones per
    request (at most 20 000 per gateway; ``complete`` is false until caught up)."""
    return totals.get_summary(backend)


@router.get("/search", response_model=SearchHit, responses=compute_error_responses(400, 404))
def search(backend: Backend, q: str = "") -> dict[str, str]:
    """Find what ``q`` names: a block height, a tx hash, a member's or vehicle's public
    key, a vehicle id, a member id, or a case (``case:N``). 400 if ``q`` is empty or
    longer than 128 characters; 404 ``not_found`` if nothing matches."""
    return find_hit(backend, q)


def register(app: FastAPI) -> None:
    """Add the explorer read routes."""
    app.include_router(router)
