"""Lawful-access cases and escrow keys: the records the chain keeps for them.

A case record is plain state, readable like all state (``GET /state/...`` with a
proof): it holds hashes, ids, codes and counts only — the case reference and the
justification as SHA-256, the scope's vehicle ids, categories and window — never
the case's documents or any vehicle data. Share releases hold boxes sealed to the
officer's key; only that key opens them. Transactions go through ``POST /txs``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from carchain.api.deps import get_backend
from carchain.api.encoding import to_object_json
from carchain.api.record_models import compute_record_model
from carchain.api.schemas import compute_error_responses
from carchain.api.view import BackendView
from carchain.core.access_log import compute_page_seqs
from carchain.core.case_records import Case, ShareRelease
from carchain.core.escrow_releases import CaseReceiptRecord
from carchain.core.members import get_member
from carchain.node.backend import NodeBackend
from carchain.sdk import cases

router = APIRouter(tags=["lawful access"])
Backend = Annotated[NodeBackend, Depends(get_backend)]
CaseId = Annotated[int, Path(ge=1, lt=2**63, description="A case id (1, 2, ...).")]
_ERRORS = compute_error_responses(404, 422)

CaseModel = compute_record_model(Case)
ShareReleaseModel = compute_record_model(ShareRelease)
ReceiptModel = compute_record_model(CaseReceiptRecord)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseDetail(_Strict):
    """A case as stored, with its state as displayed at the latest block."""

    case: CaseModel  # type: ignore[valid-type]
    display_state: str = Field(
        description="open, authorized, expired (authorized, past expires_ms), rejected, closed."
    )
    height: int = Field(description="The block the display state is computed at.")


class CaseList(_Strict):
    """A page of cases, newest first."""

    cases: list[CaseDetail]
    next_before: int | None = Field(description="Cursor of the next (older) page, or null.")


class ReleaseList(_Strict):
    """A case's share releases, oldest first (boxes sealed to the officer's key, hex)."""

    case_id: int
    releases: list[ShareReleaseModel]  # type: ignore[valid-type]
    next_after: int | None = Field(description="Cursor of the next page, or null.")


class ReceiptList(_Strict):
    """The officer's receipts of a case, oldest first: per vehicle, the batches decrypted."""

    case_id: int
    receipts: list[ReceiptModel]  # type: ignore[valid-type]


class EscrowKeyDetail(_Strict):
    """A member's registered escrow key (its shares are sealed to its X25519 image)."""

    member_id: str
    escrow_key: str | None = Field(description="Ed25519 public key, hex; null if none.")


def compute_display_state(case: Case, time_ms: int) -> str:
    """Return the state a reader sees: ``expired`` for an authorised case past its expiry."""
    return "expired" if cases.is_expired(case, time_ms) else case.state.value


def compute_case_json(case: Case, height: int, time_ms: int) -> dict[str, Any]:
    """Return the JSON form of a case at a block."""
    state = compute_display_state(case, time_ms)
    return {"case": to_object_json(case), "display_state": state, "height": height}


@router.get("/cases", response_model=CaseList, responses=_ERRORS)
def list_cases(
    backend: Backend,
    before: Annotated[int | None, Query(ge=1, lt=2**63, description="A case id.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Return the cases with an id below ``before`` (default: all), newest first."""
    st = backend.status()
    view = BackendView(backend)
    top = None if before is None else before - 1
    ids = [i + 1 for i in compute_page_seqs(cases.get_case_count(view), top, limit)]
    found = (cases.get_case_optional(view, i) for i in ids)
    docs = [
        compute_case_json(c, st.height, st.latest_block_time_ms) for c in found if c is not None
    ]
    return {"cases": docs, "next_before": ids[-1] if ids and ids[-1] > 1 else None}


@router.get("/cases/{case_id}", response_model=CaseDetail, responses=_ERRORS)
def get_case(case_id: CaseId, backend: Backend) -> dict[str, Any]:
    """Return a case: state, opened and authorised scope, votes, counts (no documents)."""
    st = backend.status()
    case = cases.get_case(BackendView(backend), case_id)
    return compute_case_json(case, st.height, st.latest_block_time_ms)


@router.get("/cases/{case_id}/releases", response_model=ReleaseList, responses=_ERRORS)
def list_case_releases(
    case_id: CaseId,
    backend: Backend,
    after: Annotated[int, Query(ge=0, lt=2**63, description="First release seq.")] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> dict[str, Any]:
    """Return a case's share releases from seq ``after`` on, oldest first."""
    view = BackendView(backend)
    cases.get_case(view, case_id)
    count = cases.get_release_count(view, case_id)
    seqs = range(after, min(count, after + limit))
    found = (cases.get_release_optional(view, case_id, n) for n in seqs)
    docs = [to_object_json(r) for r in found if r is not None]
    more = seqs.stop if seqs.stop < count else None
    return {"case_id": case_id, "releases": docs, "next_after": more}


@router.get("/cases/{case_id}/receipts", response_model=ReceiptList, responses=_ERRORS)
def list_case_receipts(case_id: CaseId, backend: Backend) -> dict[str, Any]:
    """Return the officer's receipts of a case (batch header hashes, counts, digests)."""
    view = BackendView(backend)
    cases.get_case(view, case_id)
    docs = [to_object_json(r) for r in cases.get_receipts(view, case_id)]
    return {"case_id": case_id, "receipts": docs}


@router.get("/escrow/keys/{member_id}", response_model=EscrowKeyDetail, responses=_ERRORS)
def get_escrow_key(member_id: str, backend: Backend) -> dict[str, Any]:
    """Return a member's registered escrow key (null if it registered none)."""
    view = BackendView(backend)
    get_member(view, member_id)
    key = cases.get_escrow_key_optional(view, member_id)
    return {"member_id": member_id, "escrow_key": None if key is None else key.hex()}


def register(app: FastAPI) -> None:
    """Add the case and escrow-key routes."""
    app.include_router(router)
