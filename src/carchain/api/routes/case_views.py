"""What an OEM and an owner see of lawful-access cases: sealed counts, noticed cases.

``GET /members/{oem}/sealed-cases`` lists, per vehicle of the OEM that a case touched,
the case id, legal basis, authority, court, state, dates, categories and the shares
released of that vehicle: never the case reference hash (the police's file number
stays between police, court and, once noticed, the owner). Each entry's pointer
``oc/<oem>/<n>`` is proven; ``carchain oem verify-releases`` re-checks every release
from proven state.

``GET /vehicles/{id}/cases`` lists the cases that touched a vehicle and whose notice
is due (``noticed``), in full, each with the proof of its pointer, its case record and
its release summary. A case not yet noticed is left out: before the court's delay ends
the owner's views show nothing of it (the owner's own record is the access log).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from carchain.api.deps import get_backend
from carchain.api.encoding import to_jsonable
from carchain.api.record_models import compute_record_model
from carchain.api.routes.access_log import compute_json_response
from carchain.api.routes.transparency import prove_value, read_counter_size, validate_range
from carchain.api.schemas import ProvenValue, compute_error_responses
from carchain.core import case_index
from carchain.core.case_index import VehicleReleases, get_authorized_scope
from carchain.core.case_records import Case, CaseRef
from carchain.core.members import STORE as MEMBERS_STORE
from carchain.core.members import compute_member_key
from carchain.core.state import compute_key
from carchain.core.types import OK_RESULT_CODE
from carchain.core.validation import validate_member_identifier
from carchain.errors import NotFound, StorageCorrupted
from carchain.node.backend import NodeBackend

router = APIRouter(tags=["lawful access"])
MAX_ENTRIES = 100
MAX_VEHICLE_CASES = 256

CaseModel = compute_record_model(Case)
VehicleReleasesModel = compute_record_model(VehicleReleases)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SealedCaseEntry(_Strict):
    """One (case, vehicle) the OEM sees: no case reference hash."""

    n: int = Field(description="Position in the OEM's case pointers (oc/<oem>/<n>).")
    vehicle_id: str
    case_id: int
    legal_basis: str
    authority: str
    court: str
    state: str
    opened_ms: int
    authorized_ms: int
    expires_ms: int
    notice_due_ms: int
    notice_extensions: int
    noticed: bool
    categories: list[str]
    data_from_ms: int
    data_until_ms: int
    keys_released: int = Field(description="Shares released of this vehicle (all custodians).")
    first_release_ms: int
    last_release_ms: int
    pointer: ProvenValue


class VehicleSummary(_Strict):
    """Per vehicle of the page: how many cases, shares, and how many still sealed."""

    vehicle_id: str
    cases: int
    sealed: int
    keys_released: int


class SealedCasesPage(_Strict):
    """A page of an OEM's case pointers (oldest first)."""

    oem: str
    size: int
    size_proof: ProvenValue | None
    start: int
    next_start: int | None
    entries: list[SealedCaseEntry]
    vehicles: list[VehicleSummary]
    height: int
    app_hash: str
    proof_height: int | None


class NoticedCase(_Strict):
    """A noticed case touching the vehicle, in full, each record proven."""

    n: int
    case: CaseModel  # type: ignore[valid-type]
    releases: VehicleReleasesModel  # type: ignore[valid-type]
    pointer: ProvenValue
    case_proof: ProvenValue
    releases_proof: ProvenValue


class VehicleCasesPage(_Strict):
    """The noticed cases of a vehicle."""

    vehicle_id: str
    cases: list[NoticedCase]
    height: int
    app_hash: str
    proof_height: int | None


def _decode(raw: bytes, kind: type[Any], what: str) -> Any:
    try:
        return msgspec.msgpack.decode(raw, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageCorrupted(f"{what} does not decode") from exc


def _read_case(backend: NodeBackend, case_id: int, at: int) -> tuple[Case, dict[str, Any]]:
    raw, proof = prove_value(backend, compute_key("c", case_id), at)
    return _decode(raw, Case, "case"), proof


def _read_releases(
    backend: NodeBackend, case_id: int, vehicle_id: str, at: int
) -> tuple[VehicleReleases, dict[str, Any]]:
    key = case_index.compute_vehicle_releases_key(case_id, vehicle_id)
    raw, proof = prove_value(backend, key, at)
    return _decode(raw, VehicleReleases, "release summary"), proof


def validate_exists(backend: NodeBackend, store: str, key: bytes, height: int, what: str) -> None:
    """Raise ``NotFound`` (404) unless ``store/key`` exists at ``height``."""
    q = backend.query(store, key, False, height)
    if q.code != OK_RESULT_CODE:
        raise NotFound(f"no such {what}", store=store)


def compute_sealed_entry(
    n: int, ref: CaseRef, case: Case, released: VehicleReleases, pointer: dict[str, Any]
) -> dict[str, Any]:
    """Return the OEM's view of one (case, vehicle): everything but the case reference."""
    scope = get_authorized_scope(case)
    return {
        "n": n,
        "vehicle_id": ref.vehicle_id,
        "case_id": case.case_id,
        "legal_basis": case.legal_basis,
        "authority": case.authority,
        "court": case.court,
        "state": case.state.value,
        "opened_ms": case.opened_ms,
        "authorized_ms": case.authorized_ms,
        "expires_ms": case.expires_ms,
        "notice_due_ms": case.notice_due_ms,
        "notice_extensions": case.notice_extensions,
        "noticed": case.noticed,
        "categories": list(scope.categories),
        "data_from_ms": scope.data_from_ms,
        "data_until_ms": scope.data_until_ms,
        "keys_released": released.keys,
        "first_release_ms": released.first_ms,
        "last_release_ms": released.last_ms,
        "pointer": pointer,
    }


def compute_vehicle_summaries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return per vehicle of the entries: cases, still sealed, shares released."""
    out: dict[str, dict[str, Any]] = {}
    for e in entries:
        row = out.setdefault(
            e["vehicle_id"],
            {"vehicle_id": e["vehicle_id"], "cases": 0, "sealed": 0, "keys_released": 0},
        )
        row["cases"] += 1
        row["sealed"] += 0 if e["noticed"] else 1
        row["keys_released"] += e["keys_released"]
    return [out[v] for v in sorted(out)]


def read_sealed_cases(
    backend: NodeBackend, oem: str, start: int, limit: int, height: int
) -> dict[str, Any]:
    """Return the OEM's page of case pointers (see the route)."""
    validate_member_identifier(oem, "oem")
    validate_range(start, limit, height, MAX_ENTRIES)
    common = read_counter_size(backend, case_index.compute_oem_case_count_key(oem), height)
    at, size = common["height"], common["size"]
    validate_exists(backend, MEMBERS_STORE, compute_member_key(oem), at, "member")
    entries = []
    for n in range(start, min(size, start + limit)):
        raw, pointer = prove_value(backend, case_index.compute_oem_case_key(oem, n), at)
        ref = _decode(raw, CaseRef, "case pointer")
        case, _ = _read_case(backend, ref.case_id, at)
        released, _ = _read_releases(backend, ref.case_id, ref.vehicle_id, at)
        entries.append(compute_sealed_entry(n, ref, case, released, pointer))
    next_start = start + limit if start + limit < size else None
    page = {"oem": oem, "start": start, "next_start": next_start, "entries": entries}
    return common | page | {"vehicles": compute_vehicle_summaries(entries)}


def read_vehicle_cases(backend: NodeBackend, vehicle_id: str, height: int) -> dict[str, Any]:
    """Return the vehicle's noticed cases, each record proven (see the route)."""
    validate_range(0, 1, height, 1)
    common = read_counter_size(
        backend, case_index.compute_vehicle_case_count_key(vehicle_id), height
    )
    at = common["height"]
    if common["size_proof"] is None:  # written (0) at registration: no such vehicle
        raise NotFound("no such vehicle", vehicle_id=vehicle_id[:128])
    cases = []
    for n in range(min(common["size"], MAX_VEHICLE_CASES)):
        raw, pointer = prove_value(backend, case_index.compute_vehicle_case_key(vehicle_id, n), at)
        ref = _decode(raw, CaseRef, "case pointer")
        case, case_proof = _read_case(backend, ref.case_id, at)
        if not case.noticed:
            continue
        released, releases_proof = _read_releases(backend, ref.case_id, vehicle_id, at)
        cases.append(
            {
                "n": n,
                "case": to_jsonable(case),
                "releases": to_jsonable(released),
                "pointer": pointer,
                "case_proof": case_proof,
                "releases_proof": releases_proof,
            }
        )
    keep = {"height": at, "app_hash": common["app_hash"], "proof_height": common["proof_height"]}
    return {"vehicle_id": vehicle_id, "cases": cases} | keep


Start = Annotated[int, Query(description="First pointer position to return (paging).")]
Limit = Annotated[int, Query(description=f"Entries per page, 1..{MAX_ENTRIES}.")]
Height = Annotated[int, Query(description="State height to read (0: latest).")]


@router.get(
    "/members/{oem}/sealed-cases",
    response_model=SealedCasesPage,
    responses=compute_error_responses(400, 404, 422),
)
def get_sealed_cases(
    oem: str,
    backend: Annotated[NodeBackend, Depends(get_backend)],
    start: Start = 0,
    limit: Limit = MAX_ENTRIES,
    height: Height = 0,
) -> Response:
    """Return, for each of the OEM's vehicles a case touched, the case's legal basis,
    authority, court, state, dates, categories and the shares released: never the case
    reference. Public read; 404 for an unknown member, 400 for a bad page."""
    return compute_json_response(read_sealed_cases(backend, oem, start, limit, height))


@router.get(
    "/vehicles/{vehicle_id}/cases",
    response_model=VehicleCasesPage,
    responses=compute_error_responses(400, 404, 422),
)
def get_vehicle_cases(
    vehicle_id: str,
    backend: Annotated[NodeBackend, Depends(get_backend)],
    height: Height = 0,
) -> Response:
    """Return the lawful-access cases that touched the vehicle and whose notice is due,
    in full and proven; a case still sealed is not shown. 404 for an unknown vehicle."""
    return compute_json_response(read_vehicle_cases(backend, vehicle_id, height))


def register(app: FastAPI) -> None:
    """Add the OEM's and owner's case views."""
    app.include_router(router)
