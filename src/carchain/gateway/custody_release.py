"""The custodian's half of an approved request: seal the covered segment keys, post the release.

For an ``approved`` request whose categories are all non-sensitive, the custody
service takes the vehicle's batches in the journal that lie inside the request's
data window and are anchored on chain, derives their segment keys from the
custodian boxes of their envelopes (``derive_release_items``), seals them to the
requester (``seal_release``), stores the package in the ``releases`` namespace
(its address is its SHA-256, the on-chain ``package_hash``) and posts
``access.release`` signed with the OEM key. A request with a sensitive category
is the owner's to release: the custodian holds no key to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from carchain.core.access import AccessRequest, Decision, get_request
from carchain.core.access_releases import (
    MAX_RELEASE_BATCHES,
    ReleaseAccess,
    ReleasedBatch,
    get_release_optional,
)
from carchain.core.categories import is_sensitive_category
from carchain.crypto.signing import SigningKey
from carchain.data.batches import decode_signed_header
from carchain.data.release import ReleaseItem, derive_release_items, seal_release
from carchain.errors import (
    AlreadyReleased,
    GrantNotInForce,
    InvalidState,
    NotFound,
    ReleaseOutOfScope,
    RequestNotApproved,
    SensitiveReleaseNeedsOwner,
    Unauthorized,
)
from carchain.gateway.custody_journal import NOTHING, OWNER_ONLY, REFUSED, RELEASED, WAITING
from carchain.gateway.journal import BatchRow, Journal
from carchain.sdk.account import Account
from carchain.sdk.chainview import ChainView
from carchain.storage.blobstore import BlobStore

# What the chain answers for a release it will never accept: recorded, not retried.
FINAL_REFUSALS = (
    AlreadyReleased,
    GrantNotInForce,
    InvalidState,
    ReleaseOutOfScope,
    RequestNotApproved,
    SensitiveReleaseNeedsOwner,
    Unauthorized,
)
MAX_WINDOW_ROWS = 100_000


@dataclass
class ReleaseContext:
    """What the release step works with."""

    view: ChainView
    account: Account
    journal: Journal
    keys: BlobStore
    releases: BlobStore
    custodian_key: SigningKey


def is_anchored(ctx: ReleaseContext, row: BatchRow) -> bool:
    """Return whether the batch's anchor is committed on chain."""
    if row.anchor_seq is None:
        return False
    anchor = ctx.journal.get_anchor_optional(row.anchor_seq)
    return anchor is not None and anchor.height > 0


def get_window_rows(ctx: ReleaseContext, request: AccessRequest) -> tuple[list[BatchRow], bool]:
    """Return the batches inside the request's window holding a requested category, and
    whether any of them still waits for its anchor."""
    rows = ctx.journal.find_batches(
        request.vehicle_id, request.data_from_ms, request.data_until_ms - 1, MAX_WINDOW_ROWS
    )
    wanted = set(request.categories)
    inside = [
        r
        for r in rows
        if request.data_from_ms <= r.start_ms <= r.end_ms < request.data_until_ms
        and wanted & set(decode_signed_header(r.header).header.categories)
    ]
    waiting = any(not is_anchored(ctx, r) for r in inside)
    return [r for r in inside if is_anchored(ctx, r)][:MAX_RELEASE_BATCHES], waiting


def derive_items(
    ctx: ReleaseContext, rows: list[BatchRow], categories: list[str]
) -> tuple[list[ReleaseItem], list[BatchRow]]:
    """Return the segment keys of the rows and the rows that gave any (a shredded
    envelope gives none: that batch x category is erased)."""
    items: list[ReleaseItem] = []
    used: list[BatchRow] = []
    for row in rows:
        got: list[ReleaseItem] = []
        for cat in categories:
            try:
                got += derive_release_items(ctx.keys.get, ctx.custodian_key, [row.header], [cat])
            except NotFound:
                continue
        if got:
            items += got
            used.append(row)
    return items, used


def process_release_task(ctx: ReleaseContext, vehicle_id: str, request_seq: int) -> tuple[str, str]:
    """Release an approved request's keys if the custodian may; return ``(state, detail)``.

    Errors other than the chain's final refusals (node down, nonce taken) propagate:
    the loop backs off and the task is tried again.
    """
    request = get_request(ctx.view, vehicle_id, request_seq)
    if get_release_optional(ctx.view, vehicle_id, request_seq) is not None:
        return RELEASED, "released on chain"
    if request.decision != Decision.APPROVED:
        return REFUSED, "request_not_approved"
    if any(is_sensitive_category(c) for c in request.categories):
        return OWNER_ONLY, "sensitive category: the owner releases"
    rows, waiting = get_window_rows(ctx, request)
    if waiting:
        return WAITING, "batches in the window wait for their anchor"
    items, used = derive_items(ctx, rows, request.categories)
    if not items:
        return NOTHING, "no stored batch in the window"
    package = seal_release(items, request.requester, ctx.account.chain_id, vehicle_id, request_seq)
    package_hash = ctx.releases.put(package)
    body = ReleaseAccess(
        vehicle_id,
        request_seq,
        [ReleasedBatch(r.header_hash, r.start_ms, r.end_ms) for r in used],
        list(request.categories),
        package_hash,
    )
    try:
        ctx.account.send(body)
    except FINAL_REFUSALS as exc:
        return process_refused_package(ctx, vehicle_id, request_seq, package_hash, exc.code)
    return RELEASED, f"{len(used)} batches"


def process_refused_package(
    ctx: ReleaseContext, vehicle_id: str, request_seq: int, package_hash: bytes, code: str
) -> tuple[str, str]:
    """Drop the package of a release the chain refused (sealed keys no release names are
    not kept); ``RELEASED`` if an earlier send of the task made it to the chain after all."""
    on_chain = get_release_optional(ctx.view, vehicle_id, request_seq)
    if on_chain is None or on_chain.package_hash != package_hash:
        ctx.releases.delete(package_hash)
    if on_chain is not None:
        return RELEASED, "released on chain"
    return REFUSED, code
