"""Projections: a record split by data category, so each category can be sealed alone.

The projection of record ``i`` on category ``c`` holds the record's kind, its index
in the batch and only the fields of ``c`` it carries (in the kind's field order).
Merging every projection of a record gives the record back exactly; merging some
gives the record with the other categories' fields absent.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Iterable
from typing import Any

import msgspec

from carchain.data.records import (
    RECORD_KINDS,
    Record,
    decode_record,
    encode_record,
    get_record_kind,
)
from carchain.errors import InvalidBatch, InvalidBody


class Projection(msgspec.Struct, array_like=True, frozen=True):
    """One record's fields of one category: kind, index in the batch, field values."""

    kind: str
    index: int
    fields: dict[str, Any]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Projection)


@functools.cache
def get_field_categories(record_type: type[Record]) -> tuple[tuple[str, str], ...]:
    """Return (field name, category name) of a record kind, in field order (computed once)."""
    cats = record_type.CATEGORIES
    return tuple((name, cats[name].value) for name in record_type.__struct_fields__)


def compute_projections(record: Record, index: int) -> dict[str, Projection]:
    """Return the record's projections by category name (only categories it carries)."""
    groups: dict[str, dict[str, Any]] = {}
    for name, category in get_field_categories(type(record)):
        value = getattr(record, name)
        if value is not None:
            group = groups.get(category)
            if group is None:
                groups[category] = group = {}
            group[name] = value
    kind = get_record_kind(record)
    return {c: Projection(kind, index, groups[c]) for c in sorted(groups)}


@functools.cache
def get_bytes_fields(record_type: type[Record]) -> frozenset[str]:
    """Return the names of a record kind's byte-string fields (computed once)."""
    return frozenset(
        f.name
        for f in msgspec.structs.fields(record_type)
        if f.type is bytes or bytes in typing.get_args(f.type)
    )


def compute_projection_doc(projection: Projection) -> dict[str, Any]:
    """Return a projection as JSON: ``{kind, index, fields}``, byte strings as hex (JSON
    has none: a V2X message hash or transfer would not encode at all)."""
    fields = {k: v.hex() if isinstance(v, bytes) else v for k, v in projection.fields.items()}
    return {"kind": projection.kind, "index": projection.index, "fields": fields}


def parse_projection_doc(doc: Any) -> Projection:
    """Return the projection of a ``compute_projection_doc`` document (the record kind's
    byte-string fields from hex); ``ValueError`` if it is not one."""
    if not isinstance(doc, dict) or set(doc) != {"kind", "index", "fields"}:
        raise ValueError("a record must be {kind, index, fields}")
    kind, index, fields = doc["kind"], doc["index"], doc["fields"]
    rtype = RECORD_KINDS.get(kind) if isinstance(kind, str) else None
    if rtype is None or type(index) is not int or not isinstance(fields, dict):
        raise ValueError("a record's kind, index or fields are malformed")
    hexed = get_bytes_fields(rtype)
    return Projection(
        kind,
        index,
        {
            k: bytes.fromhex(v) if k in hexed and isinstance(v, str) else v
            for k, v in fields.items()
        },
    )


def encode_projection(projection: Projection) -> bytes:
    """Return the canonical encoding of a projection (a Merkle leaf's payload)."""
    return _encoder.encode(projection)


def decode_projection(raw: bytes, category: str) -> Projection:
    """Decode a projection of ``category``; raise ``InvalidBatch`` if it is not a canonical
    one (unknown kind, a field of another category, out of order, or of the wrong type)."""
    try:
        p = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidBatch(f"not a projection: {exc}") from exc
    rtype = RECORD_KINDS.get(p.kind)
    if rtype is None or not 0 <= p.index < 2**32 or not p.fields:
        raise InvalidBatch("projection names an unknown kind or a bad index")
    order = [n for n in rtype.__struct_fields__ if rtype.CATEGORIES[n].value == category]
    names = list(p.fields)
    if names != [n for n in order if n in p.fields]:
        raise InvalidBatch("projection holds fields of another category or out of order")
    if any(v is None for v in p.fields.values()) or _encoder.encode(p) != raw:
        raise InvalidBatch("projection is not canonically encoded")
    merge_projections([p])  # type-checks every value against the record kind
    return p


def merge_projections(projections: Iterable[Projection]) -> Record:
    """Return the record the projections (of one record) make; ``InvalidBatch`` if they
    disagree on kind or index or hold values of the wrong type."""
    parts = list(projections)
    if not parts or len({(p.kind, p.index) for p in parts}) != 1:
        raise InvalidBatch("projections of one record disagree on kind or index")
    rtype = RECORD_KINDS[parts[0].kind]
    fields: dict[str, Any] = {}
    for p in parts:
        fields.update(p.fields)
    try:
        record = rtype(**fields)
        return decode_record(encode_record(record))
    except (InvalidBody, TypeError, msgspec.EncodeError) as exc:
        raise InvalidBatch("projection values do not fit the record kind") from exc
