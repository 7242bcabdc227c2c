"""The requester checks each batch it gets against the release on chain: the batch must be
of the release's vehicle and have the times the release names for its header hash (a
custodian naming an out-of-window batch under in-window times is caught)."""

from __future__ import annotations

import msgspec
import pytest

from carchain.core.access_releases import AccessRelease, ReleasedBatch
from carchain.data.batches import decode_signed_header, decode_submitted
from carchain.errors import InvalidProof
from carchain.sdk.requester import validate_released_header
from carchain.sdk.vehicle import Upload
from tests.conftest import seeded_key
from tests.dataplane import NOW_MS, make_car, make_records


def make_upload() -> Upload:
    """Return one telemetry batch of a car."""
    rec = make_car("saic:req-check", seeded_key("custodian/saic")).recorder(window_ms=60_000)
    ups: list[Upload] = []
    for t, r in make_records(10, NOW_MS - 600_000):
        ups += rec.add_at(r, t)
    return ups + rec.flush()


def release_of(vehicle_id: str, batch: ReleasedBatch) -> AccessRelease:
    """Return a release on chain naming one batch."""
    return AccessRelease(vehicle_id, 0, b"\x01" * 32, "saic", ["motion"], [batch], b"", 1, 1)


def test_the_released_batch_passes_and_others_are_refused() -> None:
    up = make_upload()[0]
    signed = decode_signed_header(decode_submitted(up.body).header)
    h = signed.header
    good = ReleasedBatch(up.header_hash, h.start_ms, h.end_ms)
    validate_released_header(release_of(h.vehicle_id, good), up.header_hash, signed)
    bad = [
        release_of("saic:other", good),  # another vehicle's release
        release_of(h.vehicle_id, msgspec.structs.replace(good, start_ms=h.start_ms - 1)),
        release_of(h.vehicle_id, msgspec.structs.replace(good, end_ms=h.end_ms + 1)),
        release_of(h.vehicle_id, msgspec.structs.replace(good, header_hash=b"\x02" * 32)),
    ]
    for release in bad:
        with pytest.raises(InvalidProof):
            validate_released_header(release, up.header_hash, signed)
