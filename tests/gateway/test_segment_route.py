"""The segment route serves one category's ciphertext of a batch, through the one read path."""

from __future__ import annotations

import pytest

from carchain.crypto.hashing import compute_sha256
from carchain.data.batches import decode_signed_header, get_segment_ciphertext
from carchain.errors import NotFound, Unauthorized
from carchain.sdk.gateway_client import GatewayClient
from tests.conftest import seeded_key
from tests.dataplane import World, make_stored_batch


def test_segment_route_serves_exactly_the_signed_segment(world: World) -> None:
    vid, hh, _ = make_stored_batch(world, "saic:car-seg")
    signed = decode_signed_header(bytes.fromhex(world.gclient.batch(hh)["batch_header"]))
    whole = world.gclient.ciphertext(hh)
    for seg in signed.header.segments:
        got = world.gclient.segment_ciphertext(hh, seg.category)
        assert compute_sha256(got) == seg.ciphertext_hash
        assert got == get_segment_ciphertext(signed.header, whole, seg.category)
    with pytest.raises(NotFound):
        world.gclient.segment_ciphertext(hh, "diagnostics")  # no such segment in it
    with pytest.raises(NotFound):
        world.gclient.segment_ciphertext(hh, "no-such-category")
    with (
        GatewayClient(world.gateway.url, signer=seeded_key("stranger")) as gc,
        pytest.raises(Unauthorized),
    ):
        gc.segment_ciphertext(hh, "motion")
    with GatewayClient(world.gateway.url, signer=seeded_key(f"owner/{vid}")) as gc:
        assert gc.segment_ciphertext(hh, "location")


def test_listing_names_segments_and_one_batch_carries_its_header(world: World) -> None:
    vid, hh, ref = make_stored_batch(world, "saic:car-seg-list")
    (doc,) = world.gclient.batches(vid)
    assert "batch_header" not in doc  # listings stay small
    assert [s["category"] for s in doc["segments"]] == doc["categories"]
    assert doc["segments"][0]["key_ref"] == ref.hex()
    one = world.gclient.batch(hh)
    assert (
        decode_signed_header(bytes.fromhex(one["batch_header"])).header.categories
        == (doc["categories"])
    )
