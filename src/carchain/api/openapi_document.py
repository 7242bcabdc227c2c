"""The app's OpenAPI document, told the truth about schema mismatches.

FastAPI documents a 422 ``HTTPValidationError`` (``{"detail": [...]}``) on every
route with input, whatever the route declares; the handler in ``api/errors.py``
answers the error document instead. ``install`` makes ``app.openapi()`` say so:
each such reference becomes ``ErrorDocument`` and FastAPI's two models leave the
document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from carchain.api.schemas import ERROR_DESCRIPTIONS, ERROR_DOCUMENT_REF, ErrorDetail, ErrorDocument

FASTAPI_VALIDATION_REF = "#/components/schemas/HTTPValidationError"
FASTAPI_MODELS = ("HTTPValidationError", "ValidationError")


def compute_document(app: FastAPI) -> dict[str, Any]:
    """Return the app's OpenAPI document with every 422 referencing ``ErrorDocument``."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    for item in doc.get("paths", {}).values():
        for op in item.values():
            response = op.get("responses", {}).get("422") if isinstance(op, dict) else None
            if response is None:
                continue
            media = response.get("content", {}).get("application/json", {})
            if media.get("schema", {}).get("$ref") == FASTAPI_VALIDATION_REF:
                media["schema"] = {"$ref": ERROR_DOCUMENT_REF}
                response["description"] = ERROR_DESCRIPTIONS[422]
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in FASTAPI_MODELS:
        schemas.pop(name, None)
    if "ErrorDocument" not in schemas:
        schemas["ErrorDetail"] = ErrorDetail.model_json_schema()
        schemas["ErrorDocument"] = _error_document_schema()
    return doc


def _error_document_schema() -> dict[str, Any]:
    schema = ErrorDocument.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return (and cache) ``compute_document``'s document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = compute_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
