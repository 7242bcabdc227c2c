"""Response models shared by routes: the error document and a proven state value.

They exist for the OpenAPI document (response schemas, documented 4xx answers);
the routes build plain dicts of this shape.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ERROR_DOCUMENT_REF = "#/components/schemas/ErrorDocument"


class ErrorDetail(BaseModel):
    """A typed error: its stable code, a message and its declared fields."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Stable error code (see the error table of docs/api.md).")
    message: str
    fields: dict[str, Any] | None = Field(
        default=None,
        description="The error's typed fields (a schema mismatch: `errors`, one line each).",
    )


class ErrorDocument(BaseModel):
    """What every failing route returns: ``{"error": {code, message, fields}}``.

    A few answers carry context beside ``error`` (a refused transaction's hash and
    verdict, the proof of a deleted key): those routes document it.
    """

    error: ErrorDetail


class MerkleProofModel(BaseModel):
    """An RFC 6962 inclusion proof (hex hashes)."""

    model_config = ConfigDict(extra="forbid", title="MerkleProof")

    total: int
    index: int
    leaf_hash: str
    aunts: list[str]


class ProofOp(BaseModel):
    """One CometBFT ``simple:v`` proof op (hex fields), as ``GET /state/{store}?prove``."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="Always `simple:v`.")
    key: str = Field(description="The state key (first op) or the store name (second op), hex.")
    proof: MerkleProofModel = Field(description="RFC 6962 proof: total, index, leaf_hash, aunts.")


class ProvenValue(BaseModel):
    """A state value of the ``access`` store with its two proof ops against the app hash."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="State key, hex.")
    value: str = Field(description="The stored value, hex (msgpack record or 8-byte counter).")
    proof: list[ProofOp]


ERROR_DESCRIPTIONS = {
    400: "Bad request: a malformed parameter (hex, base64, a page limit or cursor out of "
    "range) or a malformed transaction or upload.",
    401: "Unauthenticated: the request is not signed for this gateway, or is a replay.",
    403: "Forbidden: the signer may not do or read this (not the owner, no release, "
    "no authorised case).",
    404: "Not found: unknown entity, or a height outside the node's window.",
    409: "Conflict with the current state (a replayed nonce or batch, a duplicate).",
    413: "Payload too large.",
    422: "The request does not match the schema (`bad_request`, `fields.errors` lists "
    "each mismatch), or its content fails the rules.",
    429: "Too many requests.",
    503: "Unavailable (the node is busy, not ready or shutting down: retry later).",
}


def compute_error_responses(
    *statuses: int, context: type[BaseModel] | None = None
) -> dict[int | str, dict[str, Any]]:
    """Return the FastAPI ``responses`` entry documenting the error document per status.

    With ``context``, the body is the error document AND that model's fields (``allOf``):
    routes that answer a refusal with the context a client needs (the hash, a proof).
    """
    out: dict[int | str, dict[str, Any]] = {}
    for s in statuses:
        what = ERROR_DESCRIPTIONS.get(s, "Error.")
        if context is None:
            out[s] = {"model": ErrorDocument, "description": what}
            continue
        ref = f"#/components/schemas/{context.__name__}"
        schema = {"allOf": [{"$ref": ERROR_DOCUMENT_REF}, {"$ref": ref}]}
        out[s] = {"description": what, "content": {"application/json": {"schema": schema}}}
    return out
