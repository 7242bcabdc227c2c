"""The SDK's gateway client sends ``case_id`` (signed with the query) on every case read,
against a live node and gateway: a case the chain does not hold is refused as such, on
each route, even for the OEM's own key."""

from __future__ import annotations

import pytest

from carchain.errors import CaseNotAuthorized
from tests.dataplane import World, make_stored_batch


def test_every_case_read_carries_case_id_to_the_gateway(world: World) -> None:
    vid, hh, ref = make_stored_batch(world, "saic:car-case")
    gc = world.gclient  # the OEM: an operator without case_id
    assert gc.batches(vid) and gc.batch(hh) and gc.key_envelope(ref)
    reads = [
        lambda: gc.batches(vid, case_id=999),
        lambda: gc.batch(hh, case_id=999),
        lambda: gc.segment_ciphertext(hh, "location", case_id=999),
        lambda: gc.batch_proof(hh, case_id=999),
        lambda: gc.key_envelope(ref, case_id=999),
    ]
    for read in reads:
        with pytest.raises(CaseNotAuthorized):
            read()
