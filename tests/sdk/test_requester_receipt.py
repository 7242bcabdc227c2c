"""Receipt items: one per batch, the distinct records received and a digest of their
salted leaves (docs/formats.md §7.4), rebuilt here with hashlib."""

from __future__ import annotations

import hashlib

from carchain.crypto.kdf import compute_leaf_salt
from carchain.data.projections import Projection, encode_projection
from carchain.sdk.requester import ReleasedSegment, compute_receipt_items


def segment(header: bytes, category: str, key: bytes, indexes: list[int]) -> ReleasedSegment:
    projections = [Projection(category, i, {"v": i}) for i in indexes]
    return ReleasedSegment(header, category, None, key, projections)  # type: ignore[arg-type]


def reference_digest(parts: list[tuple[bytes, list[Projection]]]) -> bytes:
    out = b""
    for key, projections in parts:
        for p in projections:
            leaf = compute_leaf_salt(key, p.index) + encode_projection(p)
            out += hashlib.sha256(b"\x00" + leaf).digest()
    return hashlib.sha256(out).digest()


def test_receipt_items_count_records_and_digest_leaves() -> None:
    a, b = b"\xaa" * 32, b"\xbb" * 32
    k1, k2, k3 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    motion = segment(a, "motion", k1, [0, 2, 5])
    diag = segment(a, "diagnostics", k2, [2, 7])
    other = segment(b, "diagnostics", k3, [1])
    items = compute_receipt_items([motion, diag, other])
    assert [i.header_hash for i in items] == [a, b]
    assert [i.record_count for i in items] == [4, 1]  # records 0, 2, 5, 7 of batch a
    # Categories in name order, whatever order the segments came in.
    assert items[0].records_digest == reference_digest(
        [(k2, diag.projections), (k1, motion.projections)]
    )
    assert items[1].records_digest == reference_digest([(k3, other.projections)])
    # A different projection changes the digest: it names exactly what was received.
    changed = compute_receipt_items([segment(a, "motion", k1, [0, 2, 6]), diag])
    assert changed[0].records_digest != items[0].records_digest
