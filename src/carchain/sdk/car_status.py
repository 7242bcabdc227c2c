"""Where a car's batches are: pending in the car, sent to the gateway, anchored on chain.

A sent batch becomes *anchored* only once the car has checked it itself: it asks
the gateway for the batch's proof (a request signed with the vehicle key, which
the gateway grants for the batches that key signed) and verifies it against the
chain (``sdk.requester.verify_batch_anchored``: header hash, vehicle signature,
proof to the gateway root, the OEM-signed anchor equal to the one committed).
The anchor's seq and height the car keeps are the verified ones: the seq of the
checked ``anchor.submit`` body, the height of that anchor as the chain stores it
(``read_verified_anchor``); what the gateway's answer claims for them is never
used. A malformed answer is ``InvalidProof`` (one line), never a crash.
"""

from __future__ import annotations

from typing import Any

from carchain.core.anchors import Anchor, SubmitAnchor, compute_anchor_body, get_anchor
from carchain.core.transactions import decode_body, decode_envelope
from carchain.core.vehicles import get_vehicle
from carchain.errors import (
    CarchainError,
    GatewayUnreachable,
    InvalidProof,
    NodeUnavailable,
    NotFound,
    TransportError,
)
from carchain.sdk.account import get_chain_id
from carchain.sdk.car_home import CarHome
from carchain.sdk.car_state import ANCHORED, PENDING, SENT, BatchEntry
from carchain.sdk.chainview import ChainView
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
            anchor = read_verified_anchor(client, doc, entry.header_hash, chain_id)
            entry.status = ANCHORED
            entry.anchor_seq, entry.anchor_height = anchor.seq, anchor.height
            found += 1
    if found:
        home.save()
    return found


def read_verified_anchor(
    client: Client, doc: dict[str, Any], header_hash: bytes, chain_id: str
) -> Anchor:
    """Return the chain's anchor committing to the batch of the gateway's proof ``doc``,
    once ``verify_batch_anchored`` checked it. Anything off in ``doc`` (a missing or
    mistyped field, bytes that do not decode, a proof that does not check) is
    ``InvalidProof``; the node's own failures (``TransportError``) stay what they are."""
    try:
        signed = verify_batch_anchored(client, doc, header_hash, chain_id)
        body = decode_body(decode_envelope(bytes.fromhex(doc["anchor"]["tx"])).body, SubmitAnchor)
        view = ChainView(client)
        anchor = get_anchor(view, get_vehicle(view, signed.header.vehicle_id).oem, body.seq)
    except (TransportError, InvalidProof):
        raise
    except CarchainError as exc:
        raise InvalidProof(
            f"the gateway's batch proof does not check: {exc.code}: {exc.message}",
            link="gateway",
        ) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise InvalidProof(
            f"the gateway's batch proof is malformed ({type(exc).__name__})", link="gateway"
        ) from None
    if compute_anchor_body(anchor) != body:  # checked already; the chain's record is final
        raise InvalidProof("the anchor on chain differs from the anchor transaction")
    return anchor


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
