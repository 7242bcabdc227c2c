"""Mapping error codes to HTTP statuses, and the handlers that do it."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from carchain.core.exceptions import CarchainError

HTTP_STATUS: dict[str, int] = {
    "malformed_tx": 400,
    "unknown_tx_type": 400,
    "invalid_signature": 400,
    "wrong_chain_id": 400,
    "invalid_nonce": 409,
    "unauthorized": 403,
    "invalid_body": 422,
    "unsupported_version": 400,
    "tx_too_large": 413,
    "not_found": 404,
    "already_exists": 409,
    "invalid_state": 409,
    "liveness_violation": 409,
    "mempool_full": 503,
    "duplicate_tx": 409,
    "invalid_proof": 422,
    "invalid_genesis": 422,
    "decryption_failed": 400,
    "storage_corrupted": 500,
    "proof_unavailable": 404,
    "no_trust_root": 400,
    "untrusted_header": 422,
    "stale_proof": 422,
    "malformed_bundle": 422,
    "height_unavailable": 404,
    "bad_request": 400,
    "invalid_batch": 400,
    "batch_too_large": 413,
    "unregistered_vehicle": 403,
    "vehicle_revoked": 403,
    "wrong_oem": 403,
    "replayed_batch": 409,
    "wrong_epoch": 422,
    "truncated_ciphertext": 400,
    "ciphertext_mismatch": 400,
    "foreign_vehicle_namespace": 403,
    "invalid_vin": 422,
    "invalid_owner_consent": 403,
    "vin_commitment_mismatch": 422,
    "key_not_valid_for_batch": 422,
    "unauthenticated": 401,
    "gateway_key_not_oem": 403,
    "timeout": 202,
}


class ApiError(CarchainError):
    """A request the API itself refuses (bad path parameter, bad encoding)."""

    code = "bad_request"


def compute_http_status(code: str) -> int:
    """Return the HTTP status for an error code (500 only for the unknown)."""
    return HTTP_STATUS.get(code, 500)


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    """Return the JSON error document every failing route returns."""
    return {"error": {"code": code, "message": message, **extra}}


def register(app: FastAPI) -> None:
    """Install handlers that turn typed errors into JSON with a stable code."""

    @app.exception_handler(CarchainError)
    async def _carchain(_: Request, exc: CarchainError) -> JSONResponse:
        return JSONResponse(
            status_code=compute_http_status(exc.code),
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
                detail=[str(e.get("msg", "")) for e in exc.errors()][:10],
            ),
        )
