"""V2X SCMS reads: pseudonym CAs, the linkage authorities, revocations with their
released seeds, and misbehaviour reports.

Receivers build their trust store and revocation index from these (or from the same
state through a proving ``KVView``); transactions go through ``POST /txs``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from carchain.api.deps import get_backend
from carchain.api.encoding import parse_hex, to_object_json
from carchain.api.record_models import compute_record_model
from carchain.api.schemas import compute_error_responses
from carchain.api.view import BackendView
from carchain.core import misbehaviour, v2x_ca, v2x_revocation
from carchain.core.misbehaviour import MisbehaviourReport
from carchain.core.state import decode_record
from carchain.core.v2x_ca import PseudonymCa
from carchain.core.v2x_revocation import LinkageAuthorities, Revocation
from carchain.node.backend import NodeBackend

router = APIRouter(tags=["v2x"])
Backend = Annotated[NodeBackend, Depends(get_backend)]
Seq = Annotated[int, Path(ge=1, lt=2**63, description="A sequence number (from 1).")]
Limit = Annotated[int, Query(ge=1, le=1000)]
_ERRORS = compute_error_responses(404, 422)
_HEX_ERRORS = compute_error_responses(400, 404, 422)  # routes that parse a HashedId8

CaModel = compute_record_model(PseudonymCa)
RevocationModel = compute_record_model(Revocation)
ReportModel = compute_record_model(MisbehaviourReport)
LinkageAuthoritiesModel = compute_record_model(LinkageAuthorities)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaList(_Strict):
    """Registered pseudonym CAs (active and revoked)."""

    cas: list[CaModel]  # type: ignore[valid-type]


class RevocationList(_Strict):
    """Revocation decisions from ``after`` on, oldest first, each with its seed releases."""

    count: int = Field(description="How many decisions were ever opened.")
    linkage_authorities: LinkageAuthoritiesModel | None  # type: ignore[valid-type]
    revocations: list[RevocationModel]  # type: ignore[valid-type]


class ReportList(_Strict):
    """Misbehaviour reports from ``after`` on, oldest first."""

    count: int
    reports: list[ReportModel]  # type: ignore[valid-type]


@router.get("/v2x/cas", response_model=CaList, responses=_HEX_ERRORS)
def list_cas(backend: Backend, limit: Limit = 100, after: str = "") -> dict[str, Any]:
    """List pseudonym CAs by HashedId8 (page with ``after``, a HashedId8 in hex)."""
    cursor = v2x_ca.compute_ca_key(parse_hex(after, "after", 8)) if after else b""
    page = backend.iterate(v2x_ca.STORE, v2x_ca.CA_KEY_PREFIX, limit, cursor)
    cas = [decode_record(v, PseudonymCa) for _, v in page]
    return {"cas": [to_object_json(c) for c in cas]}


@router.get("/v2x/cas/{hashed_id8}", response_model=CaModel, responses=_HEX_ERRORS)
def get_ca(hashed_id8: str, backend: Backend) -> Any:
    """Return one pseudonym CA by its certificate's HashedId8 (hex)."""
    return to_object_json(
        v2x_ca.get_ca(BackendView(backend), parse_hex(hashed_id8, "hashed_id8", 8))
    )


@router.get("/v2x/revocations", response_model=RevocationList, responses=_ERRORS)
def list_revocations(
    backend: Backend, after: Annotated[int, Query(ge=0, lt=2**63)] = 0, limit: Limit = 100
) -> dict[str, Any]:
    """Return revocation decisions with seq > ``after``: status, period, and the seeds the
    linkage authorities released (both, once ``revoked``)."""
    view = BackendView(backend)
    count = v2x_revocation.get_revocation_count(view)
    seqs = range(after + 1, min(count, after + limit) + 1)
    found = (v2x_revocation.get_revocation_optional(view, s) for s in seqs)
    las = v2x_revocation.get_linkage_authorities_optional(view)
    return {
        "count": count,
        "linkage_authorities": None if las is None else to_object_json(las),
        "revocations": [to_object_json(r) for r in found if r is not None],
    }


@router.get("/v2x/revocations/{seq}", response_model=RevocationModel, responses=_ERRORS)
def get_revocation(seq: Seq, backend: Backend) -> Any:
    """Return one revocation decision."""
    return to_object_json(v2x_revocation.get_revocation(BackendView(backend), seq))


@router.get("/v2x/reports", response_model=ReportList, responses=_ERRORS)
def list_reports(
    backend: Backend, after: Annotated[int, Query(ge=0, lt=2**63)] = 0, limit: Limit = 100
) -> dict[str, Any]:
    """Return misbehaviour reports with seq > ``after``: the evidence hash and the
    evidence sealed to each misbehaviour authority (never the evidence, hex)."""
    view = BackendView(backend)
    count = misbehaviour.get_report_count(view)
    seqs = range(after + 1, min(count, after + limit) + 1)
    found = (misbehaviour.get_report_optional(view, s) for s in seqs)
    return {"count": count, "reports": [to_object_json(r) for r in found if r is not None]}


@router.get("/v2x/reports/{seq}", response_model=ReportModel, responses=_ERRORS)
def get_report(seq: Seq, backend: Backend) -> Any:
    """Return one misbehaviour report."""
    return to_object_json(misbehaviour.get_report(BackendView(backend), seq))


def register(app: FastAPI) -> None:
    """Add the V2X SCMS routes to ``app``."""
    app.include_router(router)
