"""Turning on-chain records and results into JSON, and JSON input into bytes."""

from __future__ import annotations

import base64
import binascii
import enum
from typing import Any

import msgspec

from carchain.core.types import TxResult
from carchain.errors import ApiError
from carchain.storage.statestore import StateProof


def parse_hex(value: str, what: str, size: int | None = None) -> bytes:
    """Return bytes from hex or raise ``ApiError``."""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ApiError(f"{what} must be hex") from None
    if size is not None and len(raw) != size:
        raise ApiError(f"{what} must be {size} bytes")
    return raw


def parse_base64(value: str, what: str) -> bytes:
    """Return bytes from base64 or raise ``ApiError``."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(f"{what} must be base64") from None


def to_jsonable(record: Any) -> Any:
    """Return a JSON-friendly form of a record: bytes become hex."""
    return _walk(msgspec.to_builtins(record, builtin_types=(bytes,)))


def to_object_json(record: Any) -> Any:
    """Return a record as JSON objects all the way down: bytes become hex, and nested
    structs become objects even when they encode as arrays on the wire."""
    if isinstance(record, msgspec.Struct):
        return {f: to_object_json(getattr(record, f)) for f in record.__struct_fields__}
    if isinstance(record, list | tuple):
        return [to_object_json(v) for v in record]
    if isinstance(record, bytes):
        return record.hex()
    if isinstance(record, enum.Enum):
        return record.value
    return record


def _walk(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _walk(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v) for v in value]
    return value


def result_json(result: TxResult | None) -> dict[str, Any] | None:
    """Return the JSON form of a transaction result."""
    if result is None:
        return None
    doc: dict[str, Any] = {
        "code": result.code,
        "error_code": result.error_code,
        "log": result.log,
        "events": [{"type": e.type, "attributes": e.attributes} for e in result.events],
    }
    if result.fields:
        doc["fields"] = result.fields
    return doc


def proof_json(proof: StateProof) -> list[dict[str, Any]]:
    """Return the proof as CometBFT-style ``simple:v`` proof ops (hex fields)."""
    return [
        {"type": "simple:v", "key": proof.key.hex(), "proof": proof.value_proof.to_dict()},
        {
            "type": "simple:v",
            "key": proof.store.encode().hex(),
            "proof": proof.store_proof.to_dict(),
        },
    ]
