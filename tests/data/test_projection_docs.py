"""The JSON form of a decrypted projection (``access fetch``, ``case fetch``, evidence
bundles): byte-string fields (a V2X message hash, a transfer and its receipt) as hex,
read back to the exact projection, so its leaf re-encodes the same. JSON has no bytes:
such a segment made every writer raise ``TypeError`` (nothing written but an empty file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carchain.cli.access_data import write_segments
from carchain.core.case_records import Case, CaseScope
from carchain.data.projections import (
    compute_projection_doc,
    compute_projections,
    decode_projection,
    encode_projection,
    parse_projection_doc,
)
from carchain.data.records import Telemetry, V2xLog, V2xTransfer
from carchain.sdk.case_files import write_case_data
from carchain.sdk.evidence_records import compute_record_doc, parse_record_doc
from carchain.sdk.officer import CaseFetch, CaseSegment
from carchain.sdk.requester import ReleasedSegment

RECORDS = [
    V2xLog(5, "tx", "ab" * 4, "cam", b"\x01" * 32, 31.2, 121.4),
    V2xTransfer(6, "sender", b"\x02" * 70, b"\x03" * 40),
    Telemetry(time_ms=7, speed_kmh=50.0),
]


def projections() -> list[tuple[str, Any]]:
    """Return every (category, projection) of the records, as a car decodes them."""
    out = []
    for i, record in enumerate(RECORDS):
        for category, p in compute_projections(record, i).items():
            out.append((category, decode_projection(encode_projection(p), category)))
    return out


@pytest.mark.parametrize(("category", "projection"), projections())
def test_a_projection_round_trips_through_json(category: str, projection: Any) -> None:
    doc = json.loads(json.dumps(compute_projection_doc(projection)))
    back = parse_projection_doc(doc)
    assert encode_projection(back) == encode_projection(projection)
    assert parse_record_doc([doc], category) == [back]
    assert compute_record_doc([back]) == [doc]


def test_byte_fields_are_hex() -> None:
    (p,) = [p for c, p in projections() if c == "v2x_message" and p.kind == "v2x"]
    assert compute_projection_doc(p)["fields"]["message_hash"] == "01" * 32


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"kind": "v2x", "index": 0},
        {"kind": "nope", "index": 0, "fields": {}},
        {"kind": "v2x", "index": True, "fields": {}},
        {"kind": "v2x", "index": 0, "fields": []},
        {"kind": "v2x", "index": 0, "fields": {"message_hash": "zz"}},
    ],
)
def test_a_malformed_document_is_a_value_error(doc: Any) -> None:
    with pytest.raises(ValueError):
        parse_projection_doc(doc)


def v2x_segments() -> list[ReleasedSegment]:
    v2x = [p for c, p in projections() if c == "v2x_message"]
    return [ReleasedSegment(b"\xaa" * 32, "v2x_message", None, b"k" * 32, v2x)]  # type: ignore[arg-type]


def test_access_fetch_writes_a_v2x_message_segment(tmp_path: Path) -> None:
    write_segments(tmp_path, v2x_segments())
    doc = json.loads((tmp_path / f"{'aa' * 32}-v2x_message.json").read_text())
    assert parse_record_doc(doc, "v2x_message") == v2x_segments()[0].projections


def test_case_fetch_writes_a_v2x_message_segment(tmp_path: Path) -> None:
    scope = CaseScope(["saic:1"], ["v2x_message"], 0, 86_400_000)
    case = Case(3, b"r" * 32, "rtsl_accident", "police", b"o" * 32, b"j" * 32, scope, 1, 1)
    segs = [CaseSegment("saic:1", 0, s) for s in v2x_segments()]
    write_case_data(tmp_path / "out", CaseFetch(case, scope, "carchain-x", 12, segs))
    path = tmp_path / "out" / "saic:1" / f"{'aa' * 32}-v2x_message.json"
    assert (
        parse_record_doc(json.loads(path.read_text()), "v2x_message") == segs[0].segment.projections
    )
