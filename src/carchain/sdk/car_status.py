"""Where a car's batches are: pending in the car, sent to the gateway, anchored on chain.

A sent batch becomes *anchored* only once the car has checked it itself: it asks
the gateway for the batch's proof (a request signed with the vehicle key, which
the gateway grants for the batches that key signed) and verifies it against the
chain (``sdk.requester.verify_batch_anchored``: header hash, vehicle signature,
proof to the gateway root, the OEM-signed anchor equal to the one committed).
"""

from __future__ import annotations

from typing import Any

from carchain.errors import GatewayUnreachable, NodeUnavailable, NotFound
from carchain.sdk.account import get_chain_id
from carchain.sdk.car_home import CarHome
from carchain.sdk.car_state import ANCHORED, PENDING, SENT, BatchEntry
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.requester import verify_batch_anchored


def refresh_anchors(home: CarHome, client: Client) -> int:
    """Check each sent batch's anchor against the chain; return how many became anchored."""
    sent = [b for b in home.state.batches if b.status == SENT]
    if not sent:
        return 0
    chain_id = get_chain_id(client)
    found = 0
    with GatewayClient(home.config.gateway, signer=home.key) as gc:
        for entry in sent:
            try:
                doc = gc.batch_proof(entry.header_hash)
            except NotFound:
                continue  # not anchored yet
            except NodeUnavailable as exc:
                raise GatewayUnreachable(
                    f"cannot ask the gateway at {gc.url} which batches are anchored "
                    f"({exc.message}); `car status --no-check` shows what the car knows",
                    attempts=1,
                    gateway=gc.url,
                    reason=exc.code,
                ) from None
            verify_batch_anchored(client, doc, entry.header_hash, chain_id)
            entry.status = ANCHORED
            entry.anchor_seq = int(doc["anchor"]["seq"])
            entry.anchor_height = int(doc["anchor"]["height"])
            found += 1
    if found:
        home.save()
    return found


def compute_counts(home: CarHome) -> dict[str, int]:
    """Return the number of batches per state."""
    counts = {PENDING: 0, SENT: 0, ANCHORED: 0}
    for b in home.state.batches:
        counts[b.status] = counts.get(b.status, 0) + 1
    return counts


def compute_batch_json(entry: BatchEntry) -> dict[str, Any]:
    """Return a batch's status as JSON (the header hash in full: `gateway prove` takes it)."""
    return {
        "header_hash": entry.header_hash.hex(),
        "epoch": entry.epoch,
        "seq": entry.seq,
        "start_ms": entry.start_ms,
        "end_ms": entry.end_ms,
        "records": entry.record_count,
        "bytes": entry.size,
        "status": entry.status,
        "attempts": entry.attempts,
        "anchor_seq": entry.anchor_seq or None,
        "anchor_height": entry.anchor_height or None,
        "last_error": entry.last_error or None,
    }


def compute_status_json(home: CarHome) -> dict[str, Any]:
    """Return the car's whole status: vehicle, gateway, counters, counts and batches."""
    return {
        "vehicle_id": home.config.vehicle_id,
        "public_key": home.key.public_key.hex(),
        "gateway": home.config.gateway,
        "node": home.config.node,
        "trips": home.state.trips,
        "next_seqs": {str(e): s for e, s in sorted(home.state.next_seqs.items())},
        "counts": compute_counts(home),
        "batches": [compute_batch_json(b) for b in home.state.batches],
    }
