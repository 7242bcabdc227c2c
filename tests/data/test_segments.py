"""Category-exact keys: a segment key opens its segment and nothing else; salted leaves."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.crypto.kdf import compute_leaf_salt
from carchain.crypto.merkle import compute_leaf_hash
from carchain.data.batches import (
    compute_batch_segment_key,
    compute_opened_records,
    get_segment_ciphertext,
    open_batch,
    open_batch_segments,
    open_segment,
)
from carchain.data.projections import (
    Projection,
    compute_projections,
    decode_projection,
    encode_projection,
    merge_projections,
)
from carchain.data.records import Diagnostics, Telemetry, decode_record
from carchain.data.segments import compute_salted_leaf
from carchain.errors import DecryptionFailed, InvalidBatch
from tests.data.batch_helpers import category_keys, mixed_records, seal
from tests.dataplane import NOW_MS


def diag_only(records: list[bytes]) -> dict[str, bytes]:
    return {"diagnostics": category_keys(records)["diagnostics"]}


def test_diagnostics_grantee_reads_diagnostics_and_cannot_decrypt_location() -> None:
    """The issue's test: the segment keys of diagnostics open diagnostics only."""
    records = mixed_records()
    batches = [seal(records, seq=s) for s in range(3)]
    for signed, ct in batches:
        h = signed.header
        diag_key = compute_batch_segment_key(h, "diagnostics", diag_only(records)["diagnostics"])
        diag = open_segment(
            signed, "diagnostics", get_segment_ciphertext(h, ct, "diagnostics"), diag_key
        )
        assert [p.index for p in diag] == [1, 3, 5]
        assert all(p.fields["trouble_codes"][0] == "P0301" for p in diag)
        location_ct = get_segment_ciphertext(h, ct, "location")
        with pytest.raises(DecryptionFailed):
            open_segment(signed, "location", location_ct, diag_key)
        # Nor does any other batch's diagnostics key, nor the category key itself.
        for other, _ in batches:
            if other is not signed:
                k = compute_batch_segment_key(
                    other.header, "diagnostics", diag_only(records)["diagnostics"]
                )
                with pytest.raises(DecryptionFailed):
                    open_segment(signed, "location", location_ct, k)
        with pytest.raises(DecryptionFailed):
            open_segment(signed, "location", location_ct, diag_only(records)["diagnostics"])


def test_partial_opening_holds_only_the_granted_fields() -> None:
    records = mixed_records()
    signed, ct = seal(records)
    got = [decode_record(r) for r in open_batch(signed, ct, diag_only(records))]
    assert all(isinstance(r, Diagnostics) and r.time_ms is None for r in got)
    assert len(got) == 3
    with_time = open_batch(
        signed, ct, {c: k for c, k in category_keys(records).items() if c != "location"}
    )
    tele = [decode_record(r) for r in with_time if isinstance(decode_record(r), Telemetry)]
    assert tele and all(r.lat is None and r.speed_kmh == 50.0 for r in tele)  # type: ignore[union-attr]


def test_leaf_hashes_are_salted_per_record_and_per_key() -> None:
    records = mixed_records()
    signed, ct = seal(records)
    h = signed.header
    opened = open_batch_segments(signed, ct, category_keys(records))
    time_seg = opened["time"]
    plain = [compute_leaf_hash(encode_projection(p)) for p in time_seg.projections]
    salted = [
        compute_leaf_hash(compute_salted_leaf(time_seg.segment_key, encode_projection(p), p.index))
        for p in time_seg.projections
    ]
    assert not set(plain) & set(salted)
    salts = [compute_leaf_salt(time_seg.segment_key, i) for i in range(h.record_count)]
    assert len(set(salts)) == len(salts) and all(len(s) == 16 for s in salts)
    other_key = opened["location"].segment_key
    assert compute_leaf_salt(other_key, 0) != salts[0]
    # Another batch of the same records: other segment keys, other salts, other roots.
    signed2, _ = seal(records, seq=1)
    assert {s.records_root for s in h.segments}.isdisjoint(
        {s.records_root for s in signed2.header.segments}
    )


def test_a_leaf_hash_does_not_confirm_a_guessed_projection() -> None:
    """Without the segment key, hashing a guess (here the true value) misses every leaf."""
    records = mixed_records(2)
    signed, ct = seal(records)
    opened = open_batch_segments(signed, ct, category_keys(records))
    guess = encode_projection(opened["location"].projections[0])
    seg = next(s for s in signed.header.segments if s.category == "location")
    assert seg.count == 1 and seg.records_root != compute_leaf_hash(guess)


def test_owner_view_reassembles_exactly() -> None:
    records = mixed_records()
    signed, ct = seal(records)
    opened = open_batch_segments(signed, ct, category_keys(records))
    assert compute_opened_records(signed, opened) == records


def test_invalid_segment_with_a_wrong_count_or_root_is_refused() -> None:
    records = mixed_records(4)
    signed, ct = seal(records)
    h = signed.header
    key = compute_batch_segment_key(h, "time", category_keys(records)["time"])
    seg_ct = get_segment_ciphertext(h, ct, "time")
    for change in ({"count": 3}, {"records_root": b"\x00" * 32}):
        segs = [
            msgspec.structs.replace(s, **change) if s.category == "time" else s for s in h.segments
        ]
        forged = msgspec.structs.replace(signed, header=msgspec.structs.replace(h, segments=segs))
        with pytest.raises(InvalidBatch):
            open_segment(forged, "time", seg_ct, key)
    with pytest.raises(InvalidBatch):
        open_segment(signed, "audio_video", seg_ct, key)


def test_projections_split_and_merge_exactly() -> None:
    r = Telemetry(NOW_MS, 31.2, 121.4, None, 90.0, None)
    parts = compute_projections(r, 7)
    assert sorted(parts) == ["location", "motion", "time"]
    assert parts["location"] == Projection("telemetry", 7, {"lat": 31.2, "lon": 121.4})
    assert merge_projections(parts.values()) == r
    for cat, p in parts.items():
        assert decode_projection(encode_projection(p), cat) == p


@pytest.mark.parametrize(
    "bad",
    [
        Projection("telemetry", 0, {"speed_kmh": 1.0}),  # motion, not location
        Projection("telemetry", 0, {"lon": 1.0, "lat": 2.0}),  # out of order
        Projection("nosuch", 0, {"lat": 1.0}),
        Projection("telemetry", -1, {"lat": 1.0}),
        Projection("telemetry", 0, {}),
        Projection("telemetry", 0, {"lat": "north"}),
        Projection("telemetry", 0, {"lat": None}),
    ],
)
def test_invalid_projections_are_refused(bad: Projection) -> None:
    with pytest.raises(InvalidBatch):
        decode_projection(encode_projection(bad), "location")


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_invalid_random_projection_bytes_raise_invalid_batch(raw: bytes) -> None:
    try:
        decode_projection(raw, "location")
    except InvalidBatch:
        return
    assert encode_projection(decode_projection(raw, "location")) == raw
