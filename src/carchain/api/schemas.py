"""Response models shared by routes: the error document and a proven state value.

They exist for the OpenAPI document (response schemas, documented 4xx answers);
the routes build plain dicts of this shape.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    """A typed error: its stable code, a message and its declared fields."""

    code: str = Field(description="Stable error code (see the error table of docs/api.md).")
    message: str
    fields: dict[str, Any] | None = Field(default=None, description="The error's typed fields.")


class ErrorDocument(BaseModel):
    """What every failing route returns."""

    error: ErrorDetail


class ProofOp(BaseModel):
    """One CometBFT ``simple:v`` proof op (hex fields), as ``GET /state/{store}?prove``."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="Always `simple:v`.")
    key: str = Field(description="The state key (first op) or the store name (second op), hex.")
    proof: dict[str, Any] = Field(description="RFC 6962 proof: total, index, leaf_hash, aunts.")


class ProvenValue(BaseModel):
    """A state value of the ``access`` store with its two proof ops against the app hash."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="State key, hex.")
    value: str = Field(description="The stored value, hex (msgpack record or 8-byte counter).")
    proof: list[ProofOp]


def compute_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the FastAPI ``responses`` entry documenting the error document per status."""
    what = {
        400: "Bad request (e.g. a page limit or cursor out of range).",
        404: "Not found (unknown entity, or a height outside the node's window).",
        422: "Request does not match the schema.",
        503: "Unavailable (the node is busy or shutting down: retry later).",
    }
    return {s: {"model": ErrorDocument, "description": what.get(s, "Error.")} for s in statuses}
