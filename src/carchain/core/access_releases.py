"""Releases and receipts: an approved request's keys go out once; the requester signs for them.

``access.release`` is posted by whoever sealed the keys to the requester: the
vehicle's OEM custodian for non-sensitive categories (it holds no key to a
sensitive one, so it may not claim to release one), or the vehicle's current
owner for any category. It commits to the sealed package (``package_hash``)
and lists the batches whose segment keys it holds; the chain refuses it unless
the request was approved, nothing was released for it yet, every approving
grant is still in force at this block and still names the requester (a role-wide
grant: a role the requester still holds), the categories are exactly the approved
ones, every batch lies inside the request's data window and no erasure requested
since covers any part of it (processing stops at the owner's erasure request).

``access.receipt`` is signed by the requester: which batches of the release it
received, how many records, and a digest of them; each batch once.

State (``access``): ``rl/<vehicle>/<request seq>`` the ``AccessRelease``;
``rc/<vehicle>/<request seq>/<n>`` the ``AccessReceipt`` records, ``rcn/...``
their count, ``rb/<vehicle>/<request seq>/<header hash>`` a receipted batch.
"""

from __future__ import annotations

import msgspec

from carchain.core import access_log, consents, members
from carchain.core.access import (
    AccessRequest,
    Decision,
    compute_request_key,
    get_request,
    is_erased,
)
from carchain.core.access_log import EventKind
from carchain.core.categories import is_sensitive_category
from carchain.core.effects import Effects
from carchain.core.members import Role
from carchain.core.state import KVView, compute_key, get_record, get_record_optional, put_record
from carchain.core.transactions import encode
from carchain.core.types import BlockContext
from carchain.core.validation import validate_digest, validate_seq
from carchain.core.vehicles import Vehicle, get_vehicle, get_vehicle_optional
from carchain.crypto.hashing import compute_sha256
from carchain.errors import (
    AlreadyReceipted,
    AlreadyReleased,
    BatchNotReleased,
    GrantNotInForce,
    InvalidBody,
    InvalidState,
    NotFound,
    NotReleased,
    ReleaseOutOfScope,
    RequestNotApproved,
    SensitiveReleaseNeedsOwner,
    Unauthorized,
)

STORE = access_log.STORE
MAX_RELEASE_BATCHES = 1024
MAX_RECORD_COUNT = 2**32
# What ``admit_custodian`` reads.
CUSTODIAN_ADMISSION_READS = frozenset({"vehicles", members.STORE})


class ReleasedBatch(msgspec.Struct, array_like=True, frozen=True):
    """A batch whose segment keys a release holds: its signed header hash and time range.

    Array-encoded (53 bytes) so that 1024 of them fit in one transaction.
    """

    header_hash: bytes
    start_ms: int
    end_ms: int


class ReleaseAccess(msgspec.Struct, frozen=True):
    """Body of ``access.release``: signed by the vehicle's OEM (non-sensitive) or its owner."""

    vehicle_id: str
    request_seq: int
    batches: list[ReleasedBatch]
    categories: list[str]
    package_hash: bytes


class AccessRelease(msgspec.Struct, frozen=True):
    """A release as stored on chain."""

    vehicle_id: str
    request_seq: int
    releaser: bytes
    releaser_member: str  # "" when the owner released
    categories: list[str]
    batches: list[ReleasedBatch]
    package_hash: bytes
    height: int
    time_ms: int


class ReceiptItem(msgspec.Struct, array_like=True, frozen=True):
    """One batch the requester received: header hash, record count, digest of the records.

    Array-encoded; a receipt may cover part of a release and the rest follow in more.
    """

    header_hash: bytes
    record_count: int
    records_digest: bytes


class ReceiptAccess(msgspec.Struct, frozen=True):
    """Body of ``access.receipt``: signed by the requester."""

    vehicle_id: str
    request_seq: int
    items: list[ReceiptItem]


class AccessReceipt(msgspec.Struct, frozen=True):
    """A receipt as stored on chain."""

    vehicle_id: str
    request_seq: int
    seq: int
    requester: bytes
    items: list[ReceiptItem]
    height: int
    time_ms: int


# --- reads -------------------------------------------------------------------------


def compute_release_key(vehicle_id: str, request_seq: int) -> bytes:
    """Return the state key of the release of a vehicle's ``request_seq``-th request."""
    return compute_key("rl", vehicle_id, request_seq)


def compute_receipt_key(vehicle_id: str, request_seq: int, seq: int) -> bytes:
    """Return the state key of the ``seq``-th receipt of a request."""
    return compute_key("rc", vehicle_id, request_seq, seq)


def compute_receipted_batch_key(vehicle_id: str, request_seq: int, header_hash: bytes) -> bytes:
    """Return the state key that marks a batch of a release as receipted."""
    return compute_key("rb", vehicle_id, request_seq, header_hash)


def get_release_optional(view: KVView, vehicle_id: str, request_seq: int) -> AccessRelease | None:
    """Return the release of the vehicle's ``request_seq``-th request or ``None``."""
    key = compute_release_key(vehicle_id, request_seq)
    return get_record_optional(view, STORE, key, AccessRelease)


def get_release(view: KVView, vehicle_id: str, request_seq: int) -> AccessRelease:
    """Return the release of the vehicle's ``request_seq``-th request or raise ``NotFound``."""
    key = compute_release_key(vehicle_id, request_seq)
    fields = {"vehicle_id": vehicle_id, "seq": request_seq}
    return get_record(view, STORE, key, AccessRelease, "release", **fields)


def get_receipt_count(view: KVView, vehicle_id: str, request_seq: int) -> int:
    """Return how many receipts the requester posted for a request."""
    raw = view.get(STORE, compute_key("rcn", vehicle_id, request_seq))
    return 0 if raw is None else int.from_bytes(raw, "big")


def get_receipts(view: KVView, vehicle_id: str, request_seq: int) -> list[AccessReceipt]:
    """Return every receipt of a request, oldest first (at most one per released batch)."""
    out = []
    for seq in range(get_receipt_count(view, vehicle_id, request_seq)):
        key = compute_receipt_key(vehicle_id, request_seq, seq)
        receipt = get_record_optional(view, STORE, key, AccessReceipt)
        if receipt is not None:
            out.append(receipt)
    return out


def get_receipts_optional(
    view: KVView, vehicle_id: str, request_seq: int
) -> list[AccessReceipt] | None:
    """Return the receipts of a released request, or ``None`` if nothing was released."""
    if get_release_optional(view, vehicle_id, request_seq) is None:
        return None
    return get_receipts(view, vehicle_id, request_seq)


# --- who may release --------------------------------------------------------------------


def get_custodian_member(view: KVView, signer: bytes, vehicle: Vehicle) -> members.Member | None:
    """Return the OEM member if ``signer`` is the vehicle's active OEM, ``None`` if the owner.

    Raise ``Unauthorized`` for anyone else.
    """
    if signer == vehicle.owner:
        return None
    member = members.get_member_by_key_optional(view, signer)
    if (
        member is None
        or member.member_id != vehicle.oem
        or not members.is_active_member(member, Role.OEM)
    ):
        raise Unauthorized(
            "only the vehicle's OEM or its current owner may release", vehicle_id=vehicle.vehicle_id
        )
    return member


def admit_custodian(view: KVView, signer: bytes, body: ReleaseAccess) -> None:
    """Mempool admission: raise unless ``signer`` is the vehicle's owner or its active OEM."""
    vehicle = get_vehicle_optional(view, body.vehicle_id)
    if vehicle is None:
        raise NotFound("no such vehicle", vehicle_id=body.vehicle_id[:128])
    get_custodian_member(view, signer, vehicle)


# --- release -----------------------------------------------------------------------


def validate_release_batches(body: ReleaseAccess, data_from_ms: int, data_until_ms: int) -> None:
    """Raise unless the batches are 1..1024 distinct hashes, each inside the data window."""
    if not 0 < len(body.batches) <= MAX_RELEASE_BATCHES:
        raise InvalidBody(
            f"a release holds 1-{MAX_RELEASE_BATCHES} batches", batch_count=len(body.batches)
        )
    seen: set[bytes] = set()
    for batch in body.batches:
        validate_digest(batch.header_hash, "batch header hash")
        if batch.header_hash in seen:
            raise InvalidBody("a release names each batch once")
        seen.add(batch.header_hash)
        if not data_from_ms <= batch.start_ms <= batch.end_ms < data_until_ms:
            raise ReleaseOutOfScope(
                "batch lies outside the request's data window",
                vehicle_id=body.vehicle_id,
                request_seq=body.request_seq,
                header_hash=batch.header_hash.hex(),
            )


def validate_approving_grants(
    view: KVView,
    ctx: BlockContext,
    vehicle: Vehicle,
    grant_seqs: list[int],
    requester: members.Member,
) -> None:
    """Raise ``GrantNotInForce`` unless every approving grant is in force at this block
    and still names the requester (by id, or by a role it still holds)."""
    for seq in sorted(set(grant_seqs)):
        grant = consents.get_grant(view, vehicle.vehicle_id, seq)
        in_force = consents.is_grant_in_force(grant, vehicle, ctx.height, ctx.time_ms)
        if not in_force or not consents.is_grant_for(grant, requester.member_id, requester.roles):
            raise GrantNotInForce(
                "an approving grant was withdrawn or expired",
                vehicle_id=vehicle.vehicle_id,
                grant_seq=seq,
            )


def validate_not_erased(view: KVView, request: AccessRequest) -> None:
    """Raise ``ReleaseOutOfScope`` if an erasure requested since covers part of the request.

    The request was decided before the erasure request; the owner now wants the
    data gone (and the custodian may have declared the keys destroyed): the same
    check as the decision's (``access.is_erased``), bounded the same way.
    """
    for category in request.categories:
        if is_erased(
            view, request.vehicle_id, category, request.data_from_ms, request.data_until_ms
        ):
            raise ReleaseOutOfScope(
                "the owner asked for the data's erasure after the request was approved",
                vehicle_id=request.vehicle_id,
                request_seq=request.seq,
                category=category,
            )


def _validate_releaser(
    view: KVView, signer: bytes, vehicle: Vehicle, categories: list[str]
) -> members.Member | None:
    oem = get_custodian_member(view, signer, vehicle)
    sensitive = [c for c in categories if is_sensitive_category(c)]
    if oem is not None and sensitive:
        raise SensitiveReleaseNeedsOwner(
            "the OEM holds no key to a sensitive category; only the owner may release it",
            vehicle_id=vehicle.vehicle_id,
        )
    return oem


def validate_release(
    view: KVView, ctx: BlockContext, vehicle: Vehicle, request: AccessRequest, body: ReleaseAccess
) -> None:
    """Raise unless ``body`` releases exactly what ``request`` was approved for, now."""
    ids = {"vehicle_id": body.vehicle_id, "request_seq": body.request_seq}
    if request.decision != Decision.APPROVED:
        raise RequestNotApproved("the request was refused", reason=request.reason, **ids)
    if request.released_height:
        raise AlreadyReleased("the request's keys were already released", **ids)
    if body.categories != request.categories:
        raise ReleaseOutOfScope("release categories differ from the approved ones", **ids)
    validate_digest(body.package_hash, "release package hash")
    validate_release_batches(body, request.data_from_ms, request.data_until_ms)
    validate_not_erased(view, request)
    requester = members.get_member_by_key_optional(view, request.requester)
    if requester is None or not members.is_active_member(requester):
        raise InvalidState(
            "the requester is no longer an active member",
            vehicle_id=body.vehicle_id,
            seq=body.request_seq,
        )
    grant_seqs = [a.grant_seq for a in request.approvals]
    validate_approving_grants(view, ctx, vehicle, grant_seqs, requester)


def process_release(
    view: KVView, ctx: BlockContext, signer: bytes, body: ReleaseAccess, fx: Effects
) -> None:
    """Record the release of an approved request's keys; log it."""
    vehicle = get_vehicle(view, body.vehicle_id)
    validate_seq(body.request_seq, "request seq")
    request = get_request(view, body.vehicle_id, body.request_seq)
    oem = _validate_releaser(view, signer, vehicle, request.categories)
    validate_release(view, ctx, vehicle, request, body)
    releaser_member = "" if oem is None else oem.member_id
    release = AccessRelease(
        body.vehicle_id,
        body.request_seq,
        signer,
        releaser_member,
        list(body.categories),
        list(body.batches),
        body.package_hash,
        ctx.height,
        ctx.time_ms,
    )
    put_record(view, STORE, compute_release_key(body.vehicle_id, body.request_seq), release)
    released = msgspec.structs.replace(request, released_height=ctx.height)
    put_record(view, STORE, compute_request_key(body.vehicle_id, body.request_seq), released)
    access_log.process_append_event(
        view, ctx, EventKind.RELEASE, body.vehicle_id, signer, releaser_member,
        body.request_seq, release.categories, body.package_hash.hex(),
    )  # fmt: skip
    fx.emit("access_released", vehicle_id=body.vehicle_id, request_seq=str(body.request_seq))


# --- receipt -----------------------------------------------------------------------


def validate_receipt_items(view: KVView, body: ReceiptAccess, release: AccessRelease) -> None:
    """Raise unless each item is a distinct batch of ``release`` not receipted before."""
    if not 0 < len(body.items) <= MAX_RELEASE_BATCHES:
        raise InvalidBody(
            f"a receipt holds 1-{MAX_RELEASE_BATCHES} batches", batch_count=len(body.items)
        )
    released = {b.header_hash for b in release.batches}
    ids = {"vehicle_id": body.vehicle_id, "request_seq": body.request_seq}
    seen: set[bytes] = set()
    for item in body.items:
        validate_digest(item.header_hash, "batch header hash")
        validate_digest(item.records_digest, "records digest")
        if not 0 <= item.record_count <= MAX_RECORD_COUNT:
            raise InvalidBody("record count out of range", record_count=item.record_count)
        if item.header_hash in seen:
            raise InvalidBody("a receipt names each batch once")
        seen.add(item.header_hash)
        hex_hash = item.header_hash.hex()
        if item.header_hash not in released:
            raise BatchNotReleased("batch is not in the release", header_hash=hex_hash, **ids)
        key = compute_receipted_batch_key(body.vehicle_id, body.request_seq, item.header_hash)
        if view.get(STORE, key) is not None:
            raise AlreadyReceipted("batch was already receipted", header_hash=hex_hash, **ids)


def process_receipt(
    view: KVView, ctx: BlockContext, signer: bytes, body: ReceiptAccess, fx: Effects
) -> None:
    """Record the requester's receipt for batches of a release; log it."""
    validate_seq(body.request_seq, "request seq")
    request = get_request(view, body.vehicle_id, body.request_seq)
    ids = {"vehicle_id": body.vehicle_id, "request_seq": body.request_seq}
    if signer != request.requester:
        raise Unauthorized("only the requester may post a receipt", vehicle_id=body.vehicle_id)
    release = get_release_optional(view, body.vehicle_id, body.request_seq)
    if release is None:
        raise NotReleased("nothing was released for this request", **ids)
    validate_receipt_items(view, body, release)
    seq = get_receipt_count(view, body.vehicle_id, body.request_seq)
    receipt = AccessReceipt(
        body.vehicle_id, body.request_seq, seq, signer, list(body.items), ctx.height, ctx.time_ms
    )
    put_record(view, STORE, compute_receipt_key(body.vehicle_id, body.request_seq, seq), receipt)
    view.set(
        STORE, compute_key("rcn", body.vehicle_id, body.request_seq), (seq + 1).to_bytes(8, "big")
    )
    for item in body.items:
        key = compute_receipted_batch_key(body.vehicle_id, body.request_seq, item.header_hash)
        view.set(STORE, key, seq.to_bytes(8, "big"))
    access_log.process_append_event(
        view, ctx, EventKind.RECEIPT, body.vehicle_id, signer, request.requester_member,
        body.request_seq, release.categories, compute_sha256(encode(body)).hex(),
    )  # fmt: skip
    fx.emit("access_receipted", vehicle_id=body.vehicle_id, request_seq=str(body.request_seq))
