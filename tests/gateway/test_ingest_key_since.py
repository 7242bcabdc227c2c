"""A batch signed by the vehicle's current key but ended before that key was rotated in
can never be proven (``verify`` says ``key_not_valid_for_batch``): the gateway refuses
it before anchoring it (review of issue 7)."""

from __future__ import annotations

import msgspec
import pytest

from carchain.errors import InvalidBatch
from tests.dataplane import NOW_MS, IngestRig


def rotate_in_fake_registry(rig: IngestRig, name: str, since_ms: int) -> None:
    v = rig.directory.vehicles[name]
    rig.directory.vehicles[name] = msgspec.structs.replace(v, key_version=2, key_since_ms=since_ms)


def test_invalid_batch_that_ended_before_its_key_was_rotated_in(rig: IngestRig) -> None:
    car = rig.car("saic:1")
    up = car.upload(start_ms=NOW_MS - 600_000)  # ends ~590 s before NOW_MS
    rotate_in_fake_registry(rig, "saic:1", NOW_MS - 60_000)
    before = rig.stored()
    with pytest.raises(InvalidBatch, match="before its signing key was rotated in"):
        rig.process(up.body)
    assert rig.stored() == before  # nothing stored, nothing to anchor


def test_batch_after_or_across_the_rotation_is_accepted(rig: IngestRig) -> None:
    car = rig.car("saic:1")
    up = car.upload(start_ms=NOW_MS - 600_000)
    rotate_in_fake_registry(rig, "saic:1", NOW_MS - 595_000)  # inside the batch
    rig.process(up.body)
    other = rig.car("saic:2")
    rotate_in_fake_registry(rig, "saic:2", NOW_MS - 700_000)  # before the batch
    rig.process(other.upload(start_ms=NOW_MS - 600_000).body)
    assert rig.stored()[1] == 2
