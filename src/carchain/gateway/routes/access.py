"""What every gateway route shares: the gateway, who is asking, and what they may read."""

from __future__ import annotations

import time
from typing import Any, cast

from fastapi import Request

from carchain.api.encoding import parse_hex
from carchain.core import erasure
from carchain.core.access import AccessRequest, get_request_optional
from carchain.core.access_releases import get_release_optional
from carchain.core.case_records import DAY_MS
from carchain.core.consents import get_grant_optional, is_grant_in_force
from carchain.core.vehicles import get_vehicle_optional
from carchain.data.batches import (
    decode_signed_header,
    get_segment_ciphertext,
    verify_header_signature,
)
from carchain.errors import InvalidSignature, NotFound, Unauthorized
from carchain.gateway.auth import SignedRequest
from carchain.gateway.case_access import (
    CaseItem,
    CaseReadCache,
    is_case_reader,
    validate_case_reader,
    validate_case_vehicle,
)
from carchain.gateway.journal import BatchRow
from carchain.gateway.service import Gateway


def get_gateway(request: Request) -> Gateway:
    """Return the gateway the app was created with."""
    return cast(Gateway, request.app.state.gateway)


def authenticate(request: Request) -> bytes:
    """Return the key that signed this request for this gateway (``Unauthenticated`` if
    none did). Its nonce is remembered only by ``admit``, once the key is authorised."""
    signed = get_gateway(request).authenticator.authenticate_at(
        request.method,
        request.url.path,
        request.scope.get("query_string", b"").decode("latin-1"),
        request.headers,
        int(time.time() * 1000),
    )
    request.state.signed_request = signed
    return signed.key


def admit(request: Request) -> None:
    """Remember the nonce of this authenticated and authorised request, so that a replay
    of it is refused; raise ``Unauthenticated`` if it is one. Call before answering."""
    signed = cast(SignedRequest, request.state.signed_request)
    get_gateway(request).authenticator.remember_at(signed, int(time.time() * 1000))


def get_owner_of(gw: Gateway, row: BatchRow) -> bytes:
    """Return the owner of the batch's whole time range (``b""``: none, operators only).

    A batch accepted before a transfer that its time range reaches past was
    committed is nobody's: the previous owner must not read past the transfer.
    """
    vehicle = gw.ingestor.directory.get_vehicle(row.vehicle_id, row.end_ms)
    period = gw.ingestor.directory.get_owner_period(vehicle, row.start_ms)
    return period.owner if row.end_ms < period.until_ms else b""


def get_readable_row(gw: Gateway, header_hash: str, reader: bytes) -> BatchRow:
    """Return the batch ``reader`` asked for: ``NotFound`` if none, the access policy's error
    if ``reader`` may not read it."""
    row = gw.journal.get_batch_optional(parse_hex(header_hash, "header hash", 32))
    if row is None:
        raise NotFound("no such batch")
    if not gw.access.is_operator(reader):
        gw.access.validate_reader(reader, get_owner_of(gw, row))
    return row


def filter_readable(gw: Gateway, rows: list[BatchRow], reader: bytes) -> list[BatchRow]:
    """Return the rows ``reader`` may see (all for an operator, an owner's periods' rows)."""
    if gw.access.is_operator(reader):
        return rows
    return [r for r in rows if get_owner_of(gw, r) == reader]


def compute_batch_json(row: BatchRow, gw: Gateway, with_header: bool = False) -> dict[str, Any]:
    """Return the JSON form of a batch: its header fields and anchoring state (and, for
    one batch, the encoded signed header a reader needs to open its segments)."""
    h = decode_signed_header(row.header).header
    doc: dict[str, Any] = {
        "header_hash": row.header_hash.hex(),
        "vehicle_id": row.vehicle_id,
        "epoch": row.epoch,
        "seq": row.seq,
        "start_ms": row.start_ms,
        "end_ms": row.end_ms,
        "record_count": row.record_count,
        "categories": h.categories,
        "ciphertext_size": row.ciphertext_size,
        "ciphertext_hash": h.ciphertext_hash.hex(),
        "segments": [
            {
                "category": s.category,
                "count": s.count,
                "records_root": s.records_root.hex(),
                "offset": s.offset,
                "ciphertext_size": s.ciphertext_size,
                "ciphertext_hash": s.ciphertext_hash.hex(),
                "key_ref": s.key_ref.hex(),
            }
            for s in h.segments
        ],
        "anchor_seq": row.anchor_seq,
        "anchor_height": 0,
    }
    if with_header:
        doc["batch_header"] = row.header.hex()
    if row.anchor_seq is not None:
        anchor = gw.journal.get_anchor_optional(row.anchor_seq)
        doc["anchor_height"] = anchor.height if anchor else 0
    return doc


def is_release_reader(
    gw: Gateway, row: BatchRow, reader: bytes, category: str | None, request_seq: int
) -> bool:
    """Return whether the chain holds a release for ``request_seq`` of the batch's vehicle
    that names this batch (and ``category``, if given, not erased since) and whose
    requester is ``reader``."""
    view = gw.access.view
    release = get_release_optional(view, row.vehicle_id, request_seq)
    if release is None or all(b.header_hash != row.header_hash for b in release.batches):
        return False
    if category is not None and (
        category not in release.categories or is_erased_segment(gw, row, category)
    ):
        return False
    request = get_request_optional(view, row.vehicle_id, request_seq)
    return (
        request is not None
        and request.requester == reader
        and is_release_in_force(gw, request, category)
    )


def is_release_in_force(gw: Gateway, request: AccessRequest, category: str | None) -> bool:
    """Return whether every grant that approved ``request`` (for ``category``, or all) is in
    force at the next block: a withdrawal (or expiry, or sale) stops processing, so the
    gateway stops serving what the release named, even to a requester that holds keys."""
    view = gw.access.view
    vehicle = get_vehicle_optional(view, request.vehicle_id)
    if vehicle is None:
        return False
    st = gw.client.status()
    height, time_ms = int(st["height"]) + 1, int(st["latest_block_time_ms"])
    for approval in request.approvals:
        if category is not None and approval.category != category:
            continue
        grant = get_grant_optional(view, request.vehicle_id, approval.grant_seq)
        if grant is None or not is_grant_in_force(grant, vehicle, height, time_ms):
            return False
    return True


def is_erased_segment(gw: Gateway, row: BatchRow, category: str) -> bool:
    """Return whether the batch's segment of ``category`` is erased: an erasure request
    on chain names its time (processing stops at the request), or its day key was shredded
    here (whole days). A requester holding the key from before gets no ciphertext."""
    if erasure.is_erased(gw.access.view, row.vehicle_id, category, row.start_ms, row.end_ms):
        return True
    return gw.journal.is_shredded(row.vehicle_id, [category], row.start_ms, row.end_ms)


def get_chain_time_ms(gw: Gateway) -> int:
    """Return the latest block's time: the clock case expiry is read against."""
    return int(gw.client.status()["latest_block_time_ms"])


def validate_case_read(
    gw: Gateway,
    case_id: int,
    reader: bytes,
    item: CaseItem,
    custodian: bool = False,
    within_window: bool = False,
) -> None:
    """Raise unless ``reader`` may read ``item`` for the case now (``validate_case_reader``
    against the latest block), remembering an allowed read for the rest of that block:
    one node status query instead of the case, committee and member reads. Another read
    in that block reads those records once for all requests (``BlockReads``)."""
    status = gw.client.status()
    now_ms, height = int(status["latest_block_time_ms"]), status.get("height")
    key = (case_id, reader, item, custodian, within_window)
    if isinstance(height, int) and gw.case_decisions.is_allowed(height, key):
        return
    view = (
        gw.case_reads.view_at(gw.access.view, height) if isinstance(height, int) else gw.access.view
    )
    validate_case_reader(view, case_id, reader, item, now_ms, custodian, within_window)
    if isinstance(height, int):
        gw.case_decisions.add_allowed(height, key)


def compute_row_item(row: BatchRow, category: str | None = None) -> CaseItem:
    """Return what reading a batch (or one category of it) touches, for case checks."""
    cats = decode_signed_header(row.header).header.categories
    chosen = tuple(cats) if category is None else tuple(c for c in cats if c == category)
    return CaseItem(row.vehicle_id, row.epoch, row.start_ms, row.end_ms, chosen)


def compute_epoch_item(vehicle_id: str, epoch: int, category: str) -> CaseItem:
    """Return what reading a vehicle x epoch x category key envelope touches."""
    return CaseItem(vehicle_id, epoch, epoch * DAY_MS, (epoch + 1) * DAY_MS - 1, (category,))


def get_case_row(
    gw: Gateway, header_hash: str, reader: bytes, category: str | None, case_id: int
) -> BatchRow:
    """Return the batch for the officer of case ``case_id`` if the case is authorised,
    unexpired and the batch (``category``, if given) in its scope; raise otherwise."""
    row = gw.journal.get_batch_optional(parse_hex(header_hash, "header hash", 32))
    if row is None:
        raise NotFound("no such batch")
    item = compute_row_item(row, category)
    # A segment (category given) is read to be decrypted: the whole batch must lie in the
    # window, as the epoch's key opens all of it.
    validate_case_read(gw, case_id, reader, item, within_window=category is not None)
    return row


def filter_case_rows(
    gw: Gateway, rows: list[BatchRow], reader: bytes, vehicle_id: str, case_id: int
) -> list[BatchRow]:
    """Return the rows ``reader`` may list for case ``case_id`` (officer, or a custodian
    of the batch epoch's committee), within its scope; raise if it may list none of the
    vehicle's."""
    view, now_ms = gw.access.view, get_chain_time_ms(gw)
    case, scope = validate_case_vehicle(view, case_id, reader, vehicle_id, now_ms)
    cache = CaseReadCache()
    return [
        r
        for r in rows
        if is_case_reader(view, case, scope, reader, compute_row_item(r), True, cache)
    ]


def get_release_row(
    gw: Gateway,
    header_hash: str,
    reader: bytes,
    category: str | None,
    request_seq: int | None,
    case_id: int | None = None,
) -> BatchRow:
    """Return the batch for an operator, its owner, (with ``request_seq``) the requester
    of a release on chain naming it (and ``category``), or (with ``case_id``) the officer
    of that authorised case within its scope; ``Unauthorized`` for anyone else."""
    if request_seq is not None and case_id is not None:
        raise Unauthorized("read for a release or for a case, not both")
    if case_id is not None:
        return get_case_row(gw, header_hash, reader, category, case_id)
    if request_seq is None:
        return get_readable_row(gw, header_hash, reader)
    row = gw.journal.get_batch_optional(parse_hex(header_hash, "header hash", 32))
    if row is None:
        raise NotFound("no such batch")
    if not is_release_reader(gw, row, reader, category, request_seq):
        raise Unauthorized("no release on chain gives this key this batch and category")
    return row


def read_ciphertext(
    gw: Gateway,
    header_hash: str,
    reader: bytes,
    category: str | None,
    request_seq: int | None = None,
    case_id: int | None = None,
) -> bytes:
    """Return a batch's whole ciphertext (``category`` None) or one segment's, if ``reader``
    may read it: the ONE read path of ciphertext (authorisation hooks go here).

    An operator, or the owner of the batch's time (``get_readable_row``), reads all;
    the requester of a release (``request_seq``) reads only the segments of the
    categories that release names, of the batches it names, not erased since, never
    a whole batch; the officer of a case (``case_id``) only the segments of its scope.
    A batch without that category's segment is ``NotFound``.
    """
    if category is None and (request_seq is not None or case_id is not None):
        raise Unauthorized("a requester or officer reads segments, not whole batches")
    row = get_release_row(gw, header_hash, reader, category, request_seq, case_id)
    h = decode_signed_header(row.header).header
    if category is not None and category not in h.categories:
        raise NotFound("the batch has no segment of that category")
    if case_id is not None and category is not None and is_erased_segment(gw, row, category):
        raise NotFound("the segment was erased")
    ciphertext = gw.blobs.get(h.ciphertext_hash)
    return ciphertext if category is None else get_segment_ciphertext(h, ciphertext, category)


def get_signer_row_optional(gw: Gateway, header_hash: str, reader: bytes) -> BatchRow | None:
    """Return the batch if ``reader`` is the key that signed its header (the car reads
    its own batch's anchoring proof: ``carchain car status``), else ``None``. Grants only
    the proof route: never ciphertext, envelopes or listings."""
    row = gw.journal.get_batch_optional(parse_hex(header_hash, "header hash", 32))
    if row is None:
        return None
    try:
        verify_header_signature(decode_signed_header(row.header), reader)
    except InvalidSignature:
        return None
    return row
