"""The proof bundle's JSON shape, parsed strictly: every defect is one ``MalformedBundle``.

``carchain/record-proof/v3``::

    {"format": "carchain/record-proof/v3",
     "record_index": int,
     "projections": [{"category": str, "projection": hex, "salt": hex,
                      "proof": merkle proof}, ...],      # 1 to 12, categories unique
     "batch_header": hex,
     "batch_proof": merkle proof, "anchor_tx": hex,
     "state": {"height": int, "anchor_key": hex, "anchor_value": hex,
               "anchor_proof": [2 proof ops], "vehicle_key": hex,
               "vehicle_value": hex, "vehicle_proof": [2 proof ops],
               "key_period_key": hex, "key_period_value": hex,
               "key_period_proof": [2 proof ops]},
     "block": {"engine": "solo" | "cometbft", "hash": hex, "header": {...},
               "commit": {...}, "validators": [...]}}   # commit, validators: cometbft

A merkle proof is ``{"total", "index", "leaf_hash", "aunts"}``; a projection's
proof is of the leaf ``salt || projection`` in its category segment's tree. ``state.height``
is the height of ``block``, whose app hash the state proofs check against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from carchain.errors import MalformedBundle

FORMAT = "carchain/record-proof/v3"
MAX_PROJECTIONS = 12
MAX_HEIGHT = 2**63 - 1
# A signed file's integers (heights, seqs, sizes, times): 0..2**63-1. Python's ints are
# unbounded and msgpack's are not, so a larger one would reach the signature's encoder
# as an ``OverflowError`` instead of a refusal of the file.
U63 = Annotated[int, msgspec.Meta(ge=0, le=MAX_HEIGHT)]


class _State(msgspec.Struct):
    height: int
    anchor_key: str
    anchor_value: str
    anchor_proof: list[dict[str, Any]]
    vehicle_key: str
    vehicle_value: str
    vehicle_proof: list[dict[str, Any]]
    key_period_key: str
    key_period_value: str
    key_period_proof: list[dict[str, Any]]


class _Projection(msgspec.Struct):
    category: str
    projection: str
    salt: str
    proof: dict[str, Any]


class _Bundle(msgspec.Struct):
    format: str
    record_index: int
    projections: list[_Projection]
    batch_header: str
    batch_proof: dict[str, Any]
    anchor_tx: str
    state: _State
    block: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProvenProjection:
    """One projection of the record, its leaf salt and its proof to the segment root."""

    category: str
    projection: bytes
    salt: bytes
    proof: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ParsedBundle:
    """A bundle with its hex fields decoded; proofs and block still JSON."""

    record_index: int
    projections: list[ProvenProjection]
    batch_header: bytes
    batch_proof: dict[str, Any]
    anchor_tx: bytes
    height: int
    anchor_key: bytes
    anchor_value: bytes
    anchor_proof: list[Any]
    vehicle_key: bytes
    vehicle_value: bytes
    vehicle_proof: list[Any]
    key_period_key: bytes
    key_period_value: bytes
    key_period_proof: list[Any]
    block: dict[str, Any]


def reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Return the object of ``pairs``; raise ``ValueError`` if a key repeats (one
    reader would see the first value, ``json`` the last: a bundle must read one way).
    """
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key[:40]!r}")
        seen.add(key)
    return dict(pairs)


def decode_strict_json(raw: bytes | str) -> Any:
    """Return the JSON document ``raw``; ``ValueError`` if it is not JSON or an object
    in it repeats a key (bundles, header copies, validator sets, genesis files).
    """
    return json.loads(raw, object_pairs_hook=reject_duplicate_keys)


def _unhex(value: str, name: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise MalformedBundle(f"bundle field {name!r} is not hex") from exc


def parse_bundle(doc: Any) -> ParsedBundle:
    """Return the bundle's fields typed and decoded; raise ``MalformedBundle`` if not."""
    if not isinstance(doc, dict):
        raise MalformedBundle("bundle is not a JSON object")
    if doc.get("format") != FORMAT:
        raise MalformedBundle(
            f"unsupported bundle format {str(doc.get('format'))[:60]!r} (expected {FORMAT})"
        )
    try:
        b = msgspec.convert(doc, _Bundle)
    except msgspec.ValidationError as exc:
        raise MalformedBundle(f"bundle: {exc}") from exc
    if not 1 <= b.state.height <= MAX_HEIGHT:
        raise MalformedBundle("bundle field 'state.height' is out of range")
    if not 0 <= b.record_index < 2**32 or not 0 < len(b.projections) <= MAX_PROJECTIONS:
        raise MalformedBundle("bundle's record index or projection count is out of range")
    if len({p.category for p in b.projections}) != len(b.projections):
        raise MalformedBundle("bundle repeats a projection's category")
    s = b.state
    return ParsedBundle(
        record_index=b.record_index,
        projections=[
            ProvenProjection(
                p.category,
                _unhex(p.projection, "projections.projection"),
                _unhex(p.salt, "projections.salt"),
                p.proof,
            )
            for p in b.projections
        ],
        batch_header=_unhex(b.batch_header, "batch_header"),
        batch_proof=b.batch_proof,
        anchor_tx=_unhex(b.anchor_tx, "anchor_tx"),
        height=s.height,
        anchor_key=_unhex(s.anchor_key, "state.anchor_key"),
        anchor_value=_unhex(s.anchor_value, "state.anchor_value"),
        anchor_proof=s.anchor_proof,
        vehicle_key=_unhex(s.vehicle_key, "state.vehicle_key"),
        vehicle_value=_unhex(s.vehicle_value, "state.vehicle_value"),
        vehicle_proof=s.vehicle_proof,
        key_period_key=_unhex(s.key_period_key, "state.key_period_key"),
        key_period_value=_unhex(s.key_period_value, "state.key_period_value"),
        key_period_proof=s.key_period_proof,
        block=b.block,
    )
