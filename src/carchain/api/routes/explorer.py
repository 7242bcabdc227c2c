"""The block explorer: static HTML, ES modules and CSS served at ``/explorer``.

The files are package data (``carchain/api/explorer/``), written by hand: no build
step, no CDN, no third-party script. The page reads the node's public JSON API
from the same origin, so a strict Content-Security-Policy (``default-src 'self'``,
no inline script or style) holds for every asset. Routing is by URL hash
(``/explorer/#/blocks/12``); the server only ever serves the fixed file list.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse, Response

from carchain.api.schemas import compute_error_responses
from carchain.errors import NotFound

router = APIRouter(tags=["explorer"])

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@cache
def list_assets() -> dict[str, str]:
    """Return the explorer's files by name with their media type (the served allowlist)."""
    folder = resources.files("carchain.api").joinpath("explorer")
    out = {}
    for item in folder.iterdir():
        suffix = "." + item.name.rpartition(".")[2]
        if item.is_file() and suffix in MEDIA_TYPES:
            out[item.name] = MEDIA_TYPES[suffix]
    return out


def read_asset(name: str) -> Response:
    """Return one explorer file with the security headers; 404 for any other name."""
    media_type = list_assets().get(name)
    if media_type is None:
        raise NotFound("no such explorer file")
    body = resources.files("carchain.api").joinpath("explorer", name).read_bytes()
    return Response(body, media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/explorer", include_in_schema=False)
def redirect_explorer() -> RedirectResponse:
    """Redirect to the explorer's page (relative asset URLs need the trailing slash)."""
    return RedirectResponse("/explorer/", status_code=307)


@router.get("/explorer/", include_in_schema=False, responses=compute_error_responses(404))
def get_explorer() -> Response:
    """Return the explorer's HTML page (it renders every view from the URL hash)."""
    return read_asset("index.html")


@router.get("/explorer/{name}", include_in_schema=False, responses=compute_error_responses(404))
def get_explorer_asset(name: str) -> Response:
    """Return one of the explorer's scripts or stylesheets; 404 ``not_found`` otherwise."""
    return read_asset(name)


def register(app: FastAPI) -> None:
    """Add the explorer routes."""
    app.include_router(router)
