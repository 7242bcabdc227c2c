"""A release served from what a gateway stored: the custodian derives diagnostics segment
keys from its envelopes, the requester opens them and nothing else; shredding an envelope
ends every later release and the owner's own reading of that category."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from carchain.core.erasure import Erasure, ErasureStatus
from carchain.data.batches import (
    decode_signed_header,
    decode_submitted,
    encode_submitted,
    get_segment_ciphertext,
    open_batch_segments,
    open_segment,
)
from carchain.data.custody import open_batch_category_keys
from carchain.data.records import Diagnostics
from carchain.data.release import derive_release_items, open_release, seal_release
from carchain.data.tombstone import DAY_MS, compute_scope_days
from carchain.errors import DecryptionFailed, InvalidKeyEnvelope, NotFound
from carchain.gateway.journal import Journal
from tests.conftest import seeded_key
from tests.dataplane import NOW_MS, IngestRig, make_records

REQUESTER = seeded_key("member/garage")


def stored_batches(rig: IngestRig) -> list[bytes]:
    """Upload two batches of telemetry and diagnostics; return their header hashes."""
    car = rig.car("saic:rel-1")
    rec = car.recorder(window_ms=60_000)
    ups = []
    for i, (t, r) in enumerate(make_records(100, NOW_MS - 900_000)):
        ups += rec.add_at(r, t)
        if i % 10 == 0:
            ups += rec.add_at(Diagnostics(t + 1, ["P0301"], True), t + 1)
    ups += rec.flush()
    return [rig.process(u.body) for u in ups[:2]]


def header_of(rig: IngestRig, header_hash: bytes) -> bytes:
    row = rig.journal.get_batch_optional(header_hash)
    assert row is not None
    return row.header


def test_custodian_release_from_stored_envelopes(rig: IngestRig) -> None:
    hashes = stored_batches(rig)
    headers = [header_of(rig, h) for h in hashes]
    items = derive_release_items(rig.keys.get, rig.custodian, headers, ["diagnostics"])
    package = seal_release(items, REQUESTER.public_key, "carchain-test", "saic:rel-1", 0)
    got = open_release(package, REQUESTER, "carchain-test", "saic:rel-1", 0)
    assert sorted(i.header_hash for i in got) == sorted(hashes)
    for item in got:
        signed = decode_signed_header(header_of(rig, item.header_hash))
        ct = rig.blobs.get(signed.header.ciphertext_hash)
        diag = open_segment(
            signed,
            "diagnostics",
            get_segment_ciphertext(signed.header, ct, "diagnostics"),
            item.segment_key,
        )
        assert diag and all(p.kind == "diagnostics" for p in diag)
        for other in ("location", "time", "motion"):
            with pytest.raises(DecryptionFailed):
                open_segment(
                    signed,
                    other,
                    get_segment_ciphertext(signed.header, ct, other),
                    item.segment_key,
                )
    # The custodian cannot release location at all (its envelope has no custodian box).
    with pytest.raises(DecryptionFailed):
        derive_release_items(rig.keys.get, rig.custodian, headers, ["location"])


def test_shredded_envelope_releases_nothing_and_opens_for_no_one(rig: IngestRig) -> None:
    hashes = stored_batches(rig)
    signed = decode_signed_header(header_of(rig, hashes[0]))
    diag_ref = next(s.key_ref for s in signed.header.segments if s.category == "diagnostics")
    owner = rig.cars["saic:rel-1"].owner
    before = open_batch_category_keys(signed, rig.keys.get, owner)
    assert "diagnostics" in before
    rig.keys.delete(diag_ref)  # crypto-shredding of saic:rel-1 x today x diagnostics
    with pytest.raises(NotFound):
        derive_release_items(
            rig.keys.get, rig.custodian, [header_of(rig, hashes[0])], ["diagnostics"]
        )
    # The owner still opens the other categories, and not the shredded one.
    after = open_batch_category_keys(signed, rig.keys.get, owner)
    assert set(after) == set(before) - {"diagnostics"}
    ct = rig.blobs.get(signed.header.ciphertext_hash)  # the ciphertext stays, unreadable
    assert "diagnostics" not in open_batch_segments(signed, ct, after)


def test_ingestor_shreds_a_day_and_refuses_its_key_back(rig: IngestRig, tmp_path: Path) -> None:
    car = rig.car("saic:rel-2")
    rec = car.recorder(window_ms=60_000)
    ups = []
    for t, r in make_records(130, NOW_MS - 900_000):
        ups += rec.add_at(r, t)
    ups += rec.flush()
    rig.process(ups[0].body)
    signed = decode_signed_header(header_of(rig, ups[0].header_hash))
    segment = signed.header.segments[0]
    epoch = signed.header.epoch
    day = (epoch * DAY_MS, (epoch + 1) * DAY_MS - 1)
    epochs, refs = rig.ingestor.shred_window("saic:rel-2", [segment.category], *day)
    assert (epochs, refs) == ([epoch], [segment.key_ref])
    assert not rig.keys.has(segment.key_ref)
    # The car still holds the day key: neither a batch without the envelope nor one
    # re-sending it (or any later batch of that erased day) is accepted or stores a thing.
    before = rig.stored()
    bare = encode_submitted(
        msgspec.structs.replace(decode_submitted(ups[1].body), key_envelopes=[])
    )
    for body in (bare, ups[1].body):
        with pytest.raises(InvalidKeyEnvelope):
            rig.process(body)
    assert rig.stored() == before
    assert not rig.keys.has(segment.key_ref)
    # The erased day is recorded durably: a reopened journal still refuses it.
    reopened = Journal(tmp_path / "journal.db")
    try:
        assert reopened.is_shredded("saic:rel-2", [segment.category], *day)
        assert reopened.is_shredded("saic:rel-2", [segment.category], day[1], day[1] + 5)
        assert not reopened.is_shredded("saic:rel-2", [segment.category], day[1] + 1, 2**62)
        assert not reopened.is_shredded("saic:rel-1", [segment.category], *day)
    finally:
        reopened.close()


def test_shredding_a_window_of_any_width_costs_only_its_batches(rig: IngestRig) -> None:
    hashes = stored_batches(rig)
    signed = decode_signed_header(header_of(rig, hashes[0]))
    epoch = signed.header.epoch
    want = sorted({s.key_ref for s in signed.header.segments if s.category == "diagnostics"})
    erasure = Erasure(
        0, "saic:rel-1", "saic", b"", ["diagnostics"], 0, 2**63 - 1, 1, 1, 1, ErasureStatus.OPEN
    )
    start, end = compute_scope_days(erasure)
    assert (start, end) == (0, 2**63 - 1)  # no day past the largest time
    assert rig.ingestor.shred_window("saic:rel-1", ["diagnostics"], start, end) == ([epoch], want)
    assert not any(rig.keys.has(r) for r in want)
