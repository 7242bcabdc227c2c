"""Public transparency: the lawful-access counters of a quarter or of an OEM's year, proven.

Anyone may read them (no membership). A report is read at ONE state height: the
scope's index size first (its answer names the height), then per counter its index
entry (the name) and its value, each with its two ``simple:v`` proof ops, so every
number checks against one app hash (``carchain.sdk.transparency`` does).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from carchain.api.deps import get_backend
from carchain.api.encoding import proof_json
from carchain.api.routes.access_log import MAX_HEIGHT, compute_json_response
from carchain.api.schemas import ProvenValue, compute_error_responses
from carchain.core import transparency as tr
from carchain.core.case_records import STORE
from carchain.core.types import OK_RESULT_CODE
from carchain.core.validation import validate_member_identifier
from carchain.errors import ApiError, make_error
from carchain.node.backend import NodeBackend

router = APIRouter(tags=["transparency"])
MAX_COUNTERS = 500
PERIOD_RE = re.compile(r"^[0-9]{4}Q[1-4]$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CounterEntry(_Strict):
    """One counter: its index position, name and value, both keys proven."""

    n: int = Field(description="Position in the scope's index (from 0).")
    name: str = Field(description="Counter name, e.g. authority/police or state/authorized.")
    value: int
    index: ProvenValue = Field(description="Proof of ti/<scope>/<n> = name.")
    counter: ProvenValue = Field(description="Proof of t/<scope>/<name> = value (8 bytes).")


class TransparencyReport(_Strict):
    """The counters of one scope (a quarter, or an OEM's year) at one height."""

    scope: str = Field(description="q/<period> or y/<year>/<oem>.")
    period: str = Field(description="The quarter (2026Q4) or the year (2026).")
    oem: str | None = Field(description="The OEM of an annual scope; null for a quarter.")
    size: int = Field(description="How many counters the scope holds at this height.")
    size_proof: ProvenValue | None = Field(description="Proof of tin/<scope>; null: none yet.")
    start: int
    next_start: int | None = Field(description="Index of the next page; null at the end.")
    counters: list[CounterEntry]
    height: int
    app_hash: str
    proof_height: int | None


def prove_value(backend: NodeBackend, key: bytes, height: int) -> tuple[bytes, dict[str, Any]]:
    """Return (value, proven-value JSON) of a ``lawful_access`` key at ``height``."""
    q = backend.query(STORE, key, True, height)
    if q.code != OK_RESULT_CODE or q.proof is None:
        raise make_error(q.error_code, q.log, {**q.fields, "height": q.height})
    return q.value, {"key": key.hex(), "value": q.value.hex(), "proof": proof_json(q.proof)}


def read_counter_size(backend: NodeBackend, key: bytes, height: int) -> dict[str, Any]:
    """Return the common fields of a read: the size counter (proven when written), the
    state height and the app hash every later proof of the read checks against."""
    q = backend.query(STORE, key, True, height)
    anchor = backend.get_proof_app_hash_optional(q.height)
    if q.code == OK_RESULT_CODE and q.proof is not None:
        doc: dict[str, Any] | None = {
            "key": key.hex(),
            "value": q.value.hex(),
            "proof": proof_json(q.proof),
        }
        size, app_hash = int.from_bytes(q.value, "big"), q.proof.app_hash
    elif q.error_code == "not_found" and q.proof is None:
        doc, size, app_hash = None, 0, b"" if anchor is None else anchor[1]
    else:
        raise make_error(q.error_code, q.log, {**q.fields, "height": q.height})
    common = {"size": size, "size_proof": doc, "height": q.height, "app_hash": app_hash.hex()}
    return common | {"proof_height": None if anchor is None else anchor[0]}


def validate_range(start: int, limit: int, height: int, most: int) -> None:
    """Raise ``ApiError`` (400) for a start, limit or height out of range."""
    if not 0 < limit <= most:
        raise ApiError(f"limit must be 1..{most}")
    if not 0 <= start < MAX_HEIGHT or not 0 <= height < MAX_HEIGHT:
        raise ApiError("start and height must be 0 or more")


def read_scope(
    backend: NodeBackend, scope: str, start: int, limit: int, height: int
) -> dict[str, Any]:
    """Return the report document of one counter scope (see the routes)."""
    validate_range(start, limit, height, MAX_COUNTERS)
    common = read_counter_size(backend, tr.compute_index_count_key(scope), height)
    at, size = common["height"], common["size"]
    counters = []
    for n in range(start, min(size, start + limit)):
        raw_name, index = prove_value(backend, tr.compute_index_key(scope, n), at)
        name = raw_name.decode(errors="replace")
        raw, counter = prove_value(backend, tr.compute_counter_key(scope, name), at)
        value = int.from_bytes(raw, "big")
        counters.append({"n": n, "name": name, "value": value, "index": index, "counter": counter})
    next_start = start + limit if start + limit < size else None
    page = {"scope": scope, "start": start, "next_start": next_start, "counters": counters}
    return common | page


def get_latest_quarter(backend: NodeBackend) -> str:
    """Return the quarter of the latest block's time."""
    return tr.compute_quarter(backend.status().latest_block_time_ms)


Start = Annotated[int, Query(description="First index position to return (paging).")]
Limit = Annotated[int, Query(description=f"Counters per page, 1..{MAX_COUNTERS}.")]
Height = Annotated[int, Query(description="State height to read (0: latest).")]


@router.get(
    "/transparency",
    response_model=TransparencyReport,
    responses=compute_error_responses(400, 404, 422),
)
def get_transparency(
    backend: Annotated[NodeBackend, Depends(get_backend)],
    period: Annotated[str, Query(description="Quarter, e.g. 2026Q4 (default: now's).")] = "",
    start: Start = 0,
    limit: Limit = MAX_COUNTERS,
    height: Height = 0,
) -> Response:
    """Return a quarter's lawful-access counters (cases by authority, court, legal basis,
    OEM, category and state; open-to-authorise times; declines; notification delays),
    each proven. Public: no membership needed. 400 for a malformed period."""
    period = period or get_latest_quarter(backend)
    if not PERIOD_RE.match(period):
        raise ApiError("period must look like 2026Q4")
    doc = read_scope(backend, tr.compute_quarter_scope(period), start, limit, height)
    return compute_json_response(doc | {"period": period, "oem": None})


@router.get(
    "/transparency/annual",
    response_model=TransparencyReport,
    responses=compute_error_responses(400, 404, 422),
)
def get_transparency_annual(
    backend: Annotated[NodeBackend, Depends(get_backend)],
    oem: Annotated[str, Query(description="The OEM's member id.")],
    year: Annotated[int, Query(description="Calendar year (UTC), e.g. 2026.")],
    start: Start = 0,
    limit: Limit = MAX_COUNTERS,
    height: Height = 0,
) -> Response:
    """Return one OEM's lawful-access counters of a calendar year (the figures of the
    annual report of the 2021 Provisions, art. 13), each proven. Public."""
    validate_member_identifier(oem, "oem")
    if not 1970 <= year <= 9999:
        raise ApiError("year must be 1970..9999")
    doc = read_scope(backend, tr.compute_year_scope(year, oem), start, limit, height)
    return compute_json_response(doc | {"period": f"{year:04d}", "oem": oem})


def register(app: FastAPI) -> None:
    """Add the transparency routes."""
    app.include_router(router)
