"""The owner checks a completed erasure's tombstone against the chain and the gateway: the
honest one passes; an envelope the custodian still holds, or a tombstone the gateway does
not hold for that erasure, is caught."""

from __future__ import annotations

import pytest

from carchain.core.erasure import RequestErasure, get_erasure, get_erasure_count
from carchain.data.batches import decode_signed_header, decode_submitted
from carchain.errors import InvalidProof, NotFound
from carchain.sdk.chainview import ChainView
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.tombstone import verify_tombstone
from tests.dataplane import envelopes_of
from tests.gateway.custody_world import HOUR_MS, CustodyWorld, custody_world

__all__ = ["custody_world"]


class OtherTombstoneGateway(GatewayClient):
    """A gateway that answers every tombstone with the same (other erasure's) bytes."""

    raw: bytes = b""

    def tombstone(self, tombstone_hash: bytes) -> bytes:
        """Return the same bytes whatever is asked."""
        return self.raw


def test_owner_verifies_the_tombstone(custody_world: CustodyWorld) -> None:
    w = custody_world
    car = w.register("saic:tomb-1")
    ups = w.upload_mixed(car)
    h = decode_signed_header(decode_submitted(ups[0].body).header).header
    ref = next(s.key_ref for s in h.segments if s.category == "diagnostics")
    vid = car.vehicle_id
    with GatewayClient(w.gateway.url, signer=car.owner) as og:
        with pytest.raises(NotFound):  # nothing erased yet
            verify_tombstone(og, w.client, vid, 0)
        for cat in ("diagnostics", "motion"):
            window = (h.start_ms - HOUR_MS, h.end_ms + HOUR_MS)
            w.owner_send(car, RequestErasure(vid, [cat], *window))
            w.wait_kind(vid, "erasure_complete", get_erasure_count(ChainView(w.client), vid))
        doc = verify_tombstone(og, w.client, vid, 0)
        assert ref in doc.destroyed and doc.categories == ["diagnostics"]
        other = verify_tombstone(og, w.client, vid, 1)
        liar = OtherTombstoneGateway(w.gateway.url, signer=car.owner)
        liar.raw = og.tombstone(get_tombstone_hash(w, vid, 1))
        with liar, pytest.raises(InvalidProof, match="not the one the chain commits to"):
            verify_tombstone(liar, w.client, vid, 0)
        assert other.destroyed
        # A custodian that kept a copy of a destroyed envelope is caught.
        w.gateway.gateway.keys.put(envelopes_of(ups[0])[ref])
        with pytest.raises(InvalidProof, match="still serves"):
            verify_tombstone(og, w.client, vid, 0)


def get_tombstone_hash(w: CustodyWorld, vehicle_id: str, seq: int) -> bytes:
    """Return the on-chain tombstone hash of an erasure."""
    return get_erasure(ChainView(w.client), vehicle_id, seq).tombstone_hash
