"""The key-envelope route: sealed category keys for their owner or custodian."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from carchain.api.encoding import parse_hex
from carchain.data.custody import decode_key_envelope
from carchain.gateway.routes.access import admit, authenticate, get_gateway
from carchain.gateway.routes.batches import OCTETS

router = APIRouter(tags=["keys"])


@router.get("/keys/{key_ref}")
def get_key_envelope(key_ref: str, request: Request) -> Response:
    """Return a sealed category key envelope (opens only for owner or, non-sensitive only,
    custodian).

    Served from the key namespace only: no ciphertext or manifest answers here;
    to an operator or the owner the envelope is sealed to.
    """
    reader = authenticate(request)
    gw = get_gateway(request)
    raw = gw.keys.get(parse_hex(key_ref, "key ref", 32))
    gw.access.validate_reader(reader, decode_key_envelope(raw).owner)
    admit(request)
    return Response(raw, media_type=OCTETS)


def register(app: FastAPI) -> None:
    """Add the key-envelope route."""
    app.include_router(router)
