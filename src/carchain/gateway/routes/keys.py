"""The key-envelope route: sealed category keys for their owner or custodian."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from carchain.api.encoding import parse_hex
from carchain.api.schemas import compute_error_responses
from carchain.data.custody import decode_key_envelope
from carchain.gateway.routes.access import (
    admit,
    authenticate,
    compute_epoch_item,
    get_gateway,
    validate_case_read,
)
from carchain.gateway.routes.batches import CaseId
from carchain.gateway.schemas import OCTETS, compute_octet_response

router = APIRouter(tags=["keys"])


@router.get(
    "/keys/{key_ref}",
    response_class=Response,
    responses={
        **compute_octet_response("The sealed key envelope (MessagePack)."),
        **compute_error_responses(400, 401, 403, 404, 409, 422),
    },
)
def get_key_envelope(key_ref: str, request: Request, case_id: CaseId = None) -> Response:
    """Return a sealed category key envelope (opens only for owner or, non-sensitive only,
    custodian; its escrow shares for their seats).

    Served from the key namespace only: no ciphertext or manifest answers here;
    to an operator or the owner the envelope is sealed to; with ``case_id``, to the
    officer or a custodian of committee(epoch) of that authorised, unexpired case if
    vehicle, epoch and category are in its scope.
    """
    reader = authenticate(request)
    gw = get_gateway(request)
    raw = gw.keys.get(parse_hex(key_ref, "key ref", 32))
    env = decode_key_envelope(raw)
    if case_id is None:
        gw.access.validate_reader(reader, env.owner)
    else:
        item = compute_epoch_item(env.vehicle_id, env.epoch, env.category)
        validate_case_read(gw, case_id, reader, item, custodian=True)
    admit(request)
    return Response(raw, media_type=OCTETS)


def register(app: FastAPI) -> None:
    """Add the key-envelope route."""
    app.include_router(router)
