"""Two gateway instances of one OEM on one data folder: an erasure made by one while
the other is between an upload's checks and its journal row (found by a review)."""

from __future__ import annotations

from pathlib import Path

import pytest

from carchain.data.batches import decode_signed_header, decode_submitted
from carchain.data.tombstone import DAY_MS
from carchain.errors import InvalidKeyEnvelope
from carchain.gateway.ingest import IngestLimits, Ingestor
from carchain.gateway.journal import Journal
from carchain.storage.blobstore import BlobStore, FileBlobStore
from tests.dataplane import NOW_MS, IngestRig, make_records


def open_second_instance(rig: IngestRig, folder: Path) -> Ingestor:
    """Return another instance's ingestor over the rig's folder and journal."""
    return Ingestor(
        "saic", rig.custodian.public_key, FileBlobStore(folder / "blobs"),
        FileBlobStore(folder / "keys"), Journal(folder / "journal.db"), rig.directory,
        IngestLimits(max_upload_bytes=64 * 1024, max_records=1000),
    )  # fmt: skip


def test_a_window_erased_by_another_instance_mid_upload_refuses_the_batch(
    rig: IngestRig, tmp_path: Path
) -> None:
    car = rig.car("saic:race")
    rec = car.recorder(window_ms=60_000)
    ups = [u for t, r in make_records(130, NOW_MS - 900_000) for u in rec.add_at(r, t)]
    signed = decode_signed_header(decode_submitted(ups[0].body).header)
    seg = signed.header.segments[0]
    day = (signed.header.epoch * DAY_MS, (signed.header.epoch + 1) * DAY_MS - 1)
    other = open_second_instance(rig, tmp_path)
    real_put = rig.keys.put_many_hashed
    scans: list[tuple[list[int], list[bytes]]] = []

    def erase_then_put(blobs: list[tuple[bytes, bytes]]) -> None:
        if not scans:  # this instance's checks passed; the other erases the day now
            scans.append(other.shred_window("saic:race", [seg.category], *day))
        real_put(blobs)

    rig.keys.put_many_hashed = erase_then_put  # type: ignore[method-assign,assignment]
    with pytest.raises(InvalidKeyEnvelope):
        rig.process(ups[0].body)
    assert scans == [([], [])]  # the other's scan found no batch: it was not recorded yet
    assert not rig.keys.has(seg.key_ref)  # the erased day's envelope is not stored again
    assert rig.journal.get_batch_optional(decode_submitted(ups[0].body).header) is None
    assert rig.journal.count_batches() == (0, 0)
    other.journal.close()


def test_a_batch_recorded_before_the_erasure_is_found_by_its_scan(
    rig: IngestRig, tmp_path: Path
) -> None:
    car = rig.car("saic:race2")
    rec = car.recorder(window_ms=60_000)
    ups = [u for t, r in make_records(130, NOW_MS - 900_000) for u in rec.add_at(r, t)]
    rig.process(ups[0].body)
    signed = decode_signed_header(decode_submitted(ups[0].body).header)
    seg = signed.header.segments[0]
    day = (signed.header.epoch * DAY_MS, (signed.header.epoch + 1) * DAY_MS - 1)
    other = open_second_instance(rig, tmp_path)
    epochs, refs = other.shred_window("saic:race2", [seg.category], *day)
    assert epochs == [signed.header.epoch] and seg.key_ref in refs
    keys: BlobStore = rig.keys
    assert not keys.has(seg.key_ref)
    other.journal.close()
