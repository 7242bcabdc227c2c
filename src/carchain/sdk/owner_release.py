"""The owner's release: the only way a sensitive category's keys reach a requester.

The custodian holds no key to location, audio/video or biometrics: their
envelopes seal the category key to the owner alone. For an approved request the
owner checks every header the gateway gives against the batch it listed
(``validate_listed_header``), opens its own category keys from the owner boxes
(``open_batch_category_keys``), derives the segment keys of the batches inside
the request's window that the gateway has anchored, seals them to the requester,
posts ``access.release`` signed by the owner key and then hands the package to
the gateway (which stores it only if it hashes to the release on chain). Works
for any approved request, sensitive or not.
"""

from __future__ import annotations

from dataclasses import dataclass

from carchain.core.access import AccessRequest, Decision, get_request
from carchain.core.access_releases import MAX_RELEASE_BATCHES, ReleaseAccess, ReleasedBatch
from carchain.crypto.signing import SigningKey
from carchain.data.batches import (
    SignedBatchHeader,
    compute_batch_segment_key,
    compute_header_hash,
    decode_signed_header,
)
from carchain.data.custody import open_batch_category_keys
from carchain.data.release import ReleaseItem, compute_release_commitment, seal_release
from carchain.errors import DecryptionFailed, InvalidProof, RequestNotApproved
from carchain.sdk.account import Account
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient


@dataclass(frozen=True, slots=True)
class OwnerRelease:
    """What the owner released: the batches, how many keys, and the package hash."""

    batches: list[ReleasedBatch]
    item_count: int
    package_hash: bytes


def get_window_batches(gc: GatewayClient, request: AccessRequest) -> list[ReleasedBatch]:
    """Return the anchored batches the gateway holds inside the request's window."""
    docs = gc.batches(
        request.vehicle_id, request.data_from_ms, request.data_until_ms - 1, anchored_only=True
    )
    return [
        ReleasedBatch(bytes.fromhex(d["header_hash"]), int(d["start_ms"]), int(d["end_ms"]))
        for d in docs
        if request.data_from_ms <= int(d["start_ms"]) <= int(d["end_ms"]) < request.data_until_ms
        and set(request.categories) & set(d["categories"])
    ][:MAX_RELEASE_BATCHES]


def validate_listed_header(raw: bytes, batch: ReleasedBatch, vehicle_id: str) -> SignedBatchHeader:
    """Return the signed header the gateway gave for a listed batch once it is that batch:
    it hashes to the listed header hash and has the request's vehicle and the listed
    times; ``InvalidProof`` otherwise (a gateway swapping in another batch's header would
    have the owner seal the keys of data the approval does not cover)."""
    if compute_header_hash(raw) != batch.header_hash:
        raise InvalidProof("the gateway's header is not the batch it listed", link="header")
    h = decode_signed_header(raw).header
    if (h.vehicle_id, h.start_ms, h.end_ms) != (vehicle_id, batch.start_ms, batch.end_ms):
        raise InvalidProof("the gateway listed a batch of other times or vehicle", link="header")
    return decode_signed_header(raw)


def derive_owner_items(
    gc: GatewayClient, owner_key: SigningKey, batches: list[ReleasedBatch], request: AccessRequest
) -> tuple[list[ReleaseItem], list[ReleasedBatch]]:
    """Return the segment keys the owner opens for the batches x the request's categories,
    and the batches that gave any (an erased key gives none)."""
    items: list[ReleaseItem] = []
    used: list[ReleasedBatch] = []
    categories = request.categories
    for batch in batches:
        raw = bytes.fromhex(gc.batch(batch.header_hash)["batch_header"])
        signed = validate_listed_header(raw, batch, request.vehicle_id)
        try:
            keys = open_batch_category_keys(signed, gc.key_envelope, owner_key)
        except DecryptionFailed:
            continue
        got = [
            ReleaseItem(batch.header_hash, c, compute_batch_segment_key(signed.header, c, keys[c]))
            for c in categories
            if c in keys
        ]
        if got:
            items += got
            used.append(batch)
    return items, used


def release_as_owner(
    gateway_client: GatewayClient,
    client: Client,
    owner_key: SigningKey,
    vehicle_id: str,
    request_seq: int,
) -> OwnerRelease:
    """Seal an approved request's keys as the owner, post ``access.release``, and store
    the package at the gateway. ``gateway_client`` signs its reads with ``owner_key``."""
    request = get_request(ChainView(client), vehicle_id, request_seq)
    if request.decision != Decision.APPROVED:
        raise RequestNotApproved(
            "the request was refused", vehicle_id=vehicle_id, request_seq=request_seq
        )
    window = get_window_batches(gateway_client, request)
    items, used = derive_owner_items(gateway_client, owner_key, window, request)
    account = Account(client, owner_key)
    package = seal_release(items, request.requester, account.chain_id, vehicle_id, request_seq)
    package_hash = compute_release_commitment(package)
    account.send(
        ReleaseAccess(vehicle_id, request_seq, used, list(request.categories), package_hash)
    )
    gateway_client.put_release_package(vehicle_id, request_seq, package)
    return OwnerRelease(used, len(items), package_hash)
