"""Reading an app's OpenAPI document: the schema it declares for an answer, and
checking a real answer against it (JSON Schema 2020-12, refs resolved in the document)."""

from __future__ import annotations

from typing import Any

import jsonschema_rs

ERROR_DOCUMENT_REF = "#/components/schemas/ErrorDocument"
JSON = "application/json"


def iter_operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Return (method, path, operation) for every operation of the document."""
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def get_response_schema(
    spec: dict[str, Any], method: str, path: str, status: int
) -> dict[str, Any]:
    """Return the JSON schema the document declares for ``status`` of an operation."""
    response = spec["paths"][path][method]["responses"][str(status)]
    return dict(response["content"][JSON]["schema"])


def is_error_document_schema(schema: dict[str, Any]) -> bool:
    """Return whether ``schema`` is the error document, alone or with context (allOf)."""
    if schema.get("$ref") == ERROR_DOCUMENT_REF:
        return True
    parts = schema.get("allOf", [])
    return any(p.get("$ref") == ERROR_DOCUMENT_REF for p in parts)


def validate_answer(spec: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    """Raise ``jsonschema_rs.ValidationError`` unless ``body`` matches the declared schema."""
    schema = get_response_schema(spec, method, path, status)
    document = {**schema, "components": spec["components"]}
    jsonschema_rs.Draft202012Validator(document).validate(body)
