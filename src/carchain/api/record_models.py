"""Pydantic response models derived from the core's msgspec records.

The OpenAPI document needs a response schema per route; writing each record's
fields a second time by hand would drift from the core. ``compute_record_model``
builds the model from the struct's own fields, with bytes as hex strings (what
``to_jsonable`` returns), nested structs as nested models and enums as strings.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from typing import Any

import msgspec
from pydantic import BaseModel, ConfigDict, Field, create_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _compute_field_type(tp: Any) -> Any:
    """Return the pydantic type of a msgspec field type (bytes -> hex str)."""
    supertype = getattr(tp, "__supertype__", None)
    if supertype is not None:  # a NewType (PublicKey, MemberId): its base type
        return _compute_field_type(supertype)
    origin = typing.get_origin(tp)
    if tp is bytes:
        return str
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return compute_record_model(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return str
    if origin is list:
        (inner,) = typing.get_args(tp)
        return list[_compute_field_type(inner)]  # type: ignore[misc]
    if origin in (typing.Union, types.UnionType):
        args = tuple(_compute_field_type(a) for a in typing.get_args(tp))
        return functools.reduce(lambda a, b: a | b, args)
    return tp


def _is_bytes(tp: Any) -> bool:
    """Return whether ``tp`` is bytes or a NewType of bytes."""
    while hasattr(tp, "__supertype__"):
        tp = tp.__supertype__
    return tp is bytes


@functools.cache
def compute_record_model(struct: type[msgspec.Struct]) -> type[BaseModel]:
    """Return (once per struct) the response model of a core record."""
    hints = typing.get_type_hints(struct)
    fields: dict[str, Any] = {}
    for f in msgspec.structs.fields(struct):
        tp = _compute_field_type(hints[f.name])
        desc = "hex" if _is_bytes(hints[f.name]) else None
        fields[f.name] = (tp, Field(description=desc))
    doc = (struct.__doc__ or struct.__name__).strip().splitlines()[0]
    model = create_model(struct.__name__, __base__=_Strict, __doc__=doc, **fields)
    return model
