"""Release packages and erasure tombstones: served to whom the chain says.

``GET /releases/{vehicle_id}/{request_seq}`` serves the sealed package of a
release on chain to its requester only (the package opens for no one else, and
the gateway still refuses everyone else). ``POST`` of the same path stores a
package an owner sealed: accepted only if its SHA-256 is the ``package_hash`` of
the release on chain. ``GET /tombstones/{hash}`` serves an erasure's full list of
destroyed key refs to the vehicle's operators and the owner who asked for it.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from carchain.api.encoding import parse_hex
from carchain.api.schemas import compute_error_responses
from carchain.core.access import get_request
from carchain.core.access_releases import get_release
from carchain.core.erasure import get_erasure_optional
from carchain.crypto.hashing import compute_sha256
from carchain.data.release import MAX_PACKAGE_BYTES
from carchain.data.tombstone import TombstoneDoc
from carchain.errors import InvalidReleasePackage, NotFound, Unauthorized
from carchain.gateway.routes.access import admit, authenticate, get_gateway, is_release_in_force
from carchain.gateway.routes.uploads import read_limited_body
from carchain.gateway.schemas import OCTETS, StoredPackage, compute_octet_response
from carchain.gateway.service import Gateway

router = APIRouter(tags=["releases"])
SeqPath = Annotated[int, Path(ge=0, lt=2**63)]


def get_release_package(gw: Gateway, vehicle_id: str, request_seq: int, reader: bytes) -> bytes:
    """Return the package of a release on chain if ``reader`` is its requester."""
    release = get_release(gw.access.view, vehicle_id, request_seq)
    request = get_request(gw.access.view, vehicle_id, request_seq)
    if request.requester != reader:
        raise Unauthorized("only the requester may fetch a release package")
    if not is_release_in_force(gw, request, None):
        raise Unauthorized("the consent behind this release is no longer in force")
    return gw.releases.get(release.package_hash)


def store_release_package(gw: Gateway, vehicle_id: str, request_seq: int, package: bytes) -> None:
    """Store a package whose SHA-256 is the on-chain release's ``package_hash``."""
    release = get_release(gw.access.view, vehicle_id, request_seq)
    if compute_sha256(package) != release.package_hash:
        raise InvalidReleasePackage("package does not hash to the release's package_hash")
    gw.releases.put(package)


@router.get(
    "/releases/{vehicle_id}/{request_seq}",
    response_class=Response,
    responses={
        **compute_octet_response("The release's sealed package."),
        **compute_error_responses(401, 403, 404, 422),
    },
)
def get_release_route(vehicle_id: str, request_seq: SeqPath, request: Request) -> Response:
    """Return a release's sealed package (to its requester only)."""
    reader = authenticate(request)
    data = get_release_package(get_gateway(request), vehicle_id, request_seq, reader)
    admit(request)
    return Response(data, media_type=OCTETS)


@router.post(
    "/releases/{vehicle_id}/{request_seq}",
    response_model=StoredPackage,
    responses=compute_error_responses(400, 404, 413, 422),
)
async def post_release(vehicle_id: str, request_seq: SeqPath, request: Request) -> dict[str, str]:
    """Store a package an owner sealed for a release it posted on chain."""
    raw = await read_limited_body(request, MAX_PACKAGE_BYTES)
    gw = get_gateway(request)
    await run_in_threadpool(store_release_package, gw, vehicle_id, request_seq, raw)
    return {"package_hash": compute_sha256(raw).hex()}


@router.get(
    "/tombstones/{tombstone_hash}",
    response_class=Response,
    responses={
        **compute_octet_response("The tombstone document (MessagePack)."),
        **compute_error_responses(400, 401, 403, 404),
    },
)
def get_tombstone(tombstone_hash: str, request: Request) -> Response:
    """Return an erasure's tombstone (every destroyed key ref) to operators and the
    erasure's owner."""
    reader = authenticate(request)
    gw = get_gateway(request)
    raw = gw.tombstones.get(parse_hex(tombstone_hash, "tombstone hash", 32))
    try:
        doc = msgspec.msgpack.decode(raw, type=TombstoneDoc)
    except msgspec.DecodeError:
        raise NotFound("no such tombstone") from None
    validate_tombstone_reader(gw, reader, doc)
    admit(request)
    return Response(raw, media_type=OCTETS)


def validate_tombstone_reader(gw: Gateway, reader: bytes, doc: TombstoneDoc) -> None:
    """Raise ``Unauthorized`` unless ``reader`` is an operator or the owner who asked for
    the erasure (another owner of the vehicle learns nothing of that owner's erasures)."""
    if gw.access.is_operator(reader):
        return
    erasure = get_erasure_optional(gw.access.view, doc.vehicle_id, doc.erasure_seq)
    if erasure is None or erasure.owner != reader:
        raise Unauthorized("only the erasure's owner and the OEM may read its tombstone")


def register(app: FastAPI) -> None:
    """Add the release and tombstone routes."""
    app.include_router(router)
