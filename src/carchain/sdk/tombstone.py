"""The owner's check of a completed erasure: the tombstone is the one the chain commits to,
it names this erasure, and it covers every key of the scope, none of which opens any more.

``erasure.complete`` carries only the tombstone's hash and its first 4096 refs: the chain
cannot know which keys the custodian held. ``verify_tombstone`` fetches the tombstone from
the gateway, checks its SHA-256 and fields against the chain, and checks that the key ref
of every segment of the scope's categories in the batches the gateway lists to the owner
for the scope's days is in it, and that the gateway no longer serves its envelope.
"""

from __future__ import annotations

import msgspec

from carchain.core.erasure import MAX_DESTROYED, ErasureStatus, get_erasure, get_tombstone_optional
from carchain.crypto.hashing import compute_sha256
from carchain.data.tombstone import TOMBSTONE_LABEL, TombstoneDoc, compute_scope_days
from carchain.errors import InvalidProof, NotFound
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient


def get_scope_key_refs(
    gc: GatewayClient, vehicle_id: str, categories: list[str], start_ms: int, end_ms: int
) -> set[bytes]:
    """Return the key refs of the segments of ``categories`` in the listed batches."""
    return {
        bytes.fromhex(s["key_ref"])
        for d in gc.batches(vehicle_id, start_ms, end_ms)
        for s in d["segments"]
        if s["category"] in categories
    }


def verify_tombstone(gc: GatewayClient, client: Client, vehicle_id: str, seq: int) -> TombstoneDoc:
    """Return the erasure's tombstone once it checks; ``NotFound`` if the erasure is not
    complete, ``InvalidProof`` if the tombstone is not the committed one, names another
    erasure, misses a key of the scope, or a destroyed envelope is still served."""
    view = ChainView(client)
    erasure = get_erasure(view, vehicle_id, seq)
    tomb = get_tombstone_optional(view, vehicle_id, seq)
    if erasure.status != ErasureStatus.COMPLETE or tomb is None:
        raise NotFound("the erasure is not complete", vehicle_id=vehicle_id)
    raw = gc.tombstone(tomb.tombstone_hash)
    if compute_sha256(raw) != tomb.tombstone_hash:
        raise InvalidProof("the gateway's tombstone is not the one the chain commits to")
    try:
        doc = msgspec.msgpack.decode(raw, type=TombstoneDoc)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidProof("the tombstone is malformed") from exc
    fields = (doc.label, doc.vehicle_id, doc.erasure_seq, doc.categories)
    if fields != (TOMBSTONE_LABEL, vehicle_id, seq, list(erasure.categories)):
        raise InvalidProof("the tombstone names another erasure")
    if doc.destroyed[:MAX_DESTROYED] != tomb.destroyed:
        raise InvalidProof("the tombstone's refs are not the ones posted on chain")
    start, end = compute_scope_days(erasure)
    scope = get_scope_key_refs(gc, vehicle_id, list(erasure.categories), start, end)
    if not scope <= set(doc.destroyed):
        raise InvalidProof("a key of the erased scope is not in the tombstone")
    for ref in scope:
        try:
            gc.key_envelope(ref)
        except NotFound:
            continue
        raise InvalidProof("the gateway still serves a destroyed key envelope")
    return doc
