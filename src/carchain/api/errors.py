"""The handlers that turn typed errors into the API's error document and HTTP status.

Each error class carries its own ``http_status`` (see ``carchain.errors``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from carchain.errors import CarchainError, get_error_class


def compute_http_status(code: str) -> int:
    """Return the HTTP status the registry gives an error code (500 for the unknown)."""
    return get_error_class(code).http_status


def error_body(
    code: str, message: str, fields: dict[str, object] | None = None, **extra: object
) -> dict[str, object]:
    """Return the JSON error document every failing route returns (fields: JSON values)."""
    doc: dict[str, object] = {"code": code, "message": message, **extra}
    if fields:
        doc["fields"] = fields
    return {"error": doc}


def register(app: FastAPI) -> None:
    """Install handlers that turn typed errors into JSON with a stable code."""

    @app.exception_handler(CarchainError)
    async def _carchain(_: Request, exc: CarchainError) -> JSONResponse:
        return JSONResponse(
            status_code=exc.http_status,
            content={"error": exc.to_dict()},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unknown routes and methods get the same error document as everything else.
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        return JSONResponse(
            status_code=exc.status_code,
            content=error_body(code, str(exc.detail)),
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content=error_body(
                "bad_request",
                "request does not match the schema",
                {"errors": compute_validation_lines(exc.errors())},
            ),
        )


MAX_VALIDATION_LINES = 10


def compute_validation_lines(errors: Sequence[Any]) -> list[str]:
    """Return each schema mismatch as one line, ``where: what`` (at most 10, no input
    values: they may be personal data)."""
    lines = []
    for e in list(errors)[:MAX_VALIDATION_LINES]:
        loc = ".".join(str(part) for part in e.get("loc", ()))
        lines.append(f"{loc}: {e.get('msg', '')}" if loc else str(e.get("msg", "")))
    return lines
