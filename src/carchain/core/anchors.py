"""Anchors: one commitment per OEM gateway per block to every data batch it received.

A gateway aggregates the signed batch headers it accepted into an RFC 6962 tree
and anchors the root with one ``anchor.submit`` transaction signed by its OEM:
root, batch and record counts, time range and the hash of the off-chain
manifest (the ordered list of headers). On-chain cost is O(1) per gateway per
block whatever the fleet size: the state machine refuses a second anchor by the
same OEM in one block. Anchors are numbered per OEM without gaps, so a gateway
that crashes and resubmits can never anchor the same batches twice.

State: ``a/<oem>/<seq>`` holds the ``Anchor``; ``h/<oem>`` the ``AnchorHead``.
Both are provable against the app hash.
"""

from __future__ import annotations

import msgspec

from carchain.core import members
from carchain.core.effects import Effects
from carchain.core.members import Role
from carchain.core.state import KVView, compute_key, get_record, get_record_optional, put_record
from carchain.core.types import BlockContext, MemberId
from carchain.core.validation import validate_digest
from carchain.errors import InvalidBody, InvalidState

STORE = "anchors"
MAX_BATCHES_PER_ANCHOR = 1_000_000
MAX_RECORDS_PER_ANCHOR = 2**40


class SubmitAnchor(msgspec.Struct, frozen=True):
    """Body of ``anchor.submit``: signed by an OEM member for its gateway.

    Its seven fields are the anchor's content: ``Anchor`` stores them (between
    the OEM and what the block adds) and the gateway journal keeps this struct
    as it is. Both wire forms are fixed, map-encoded in declaration order.
    """

    seq: int
    root: bytes
    batch_count: int
    record_count: int
    start_ms: int
    end_ms: int
    manifest_hash: bytes


class Anchor(msgspec.Struct, frozen=True):
    """An anchored gateway root as stored on chain: ``SubmitAnchor``'s fields, framed.

    msgspec cannot embed a struct's fields flat after a leading one, so they are
    listed again here; ``compute_anchor`` is the one place that copies them.
    """

    oem: MemberId
    seq: int
    root: bytes
    batch_count: int
    record_count: int
    start_ms: int
    end_ms: int
    manifest_hash: bytes
    signer: bytes
    height: int
    time_ms: int


class AnchorHead(msgspec.Struct, frozen=True):
    """An OEM's latest anchor: its sequence number and block height."""

    seq: int
    height: int


def compute_anchor_key(oem: str, seq: int) -> bytes:
    """Return the state key of an anchor (``a/<oem>/<seq as 8 bytes>``)."""
    return compute_key("a", oem, seq)


def compute_head_key(oem: str) -> bytes:
    """Return the state key of an OEM's anchor head."""
    return compute_key("h", oem)


def get_anchor_head(view: KVView, oem: str) -> AnchorHead:
    """Return the OEM's latest anchor head (seq 0 before its first anchor)."""
    head = get_record_optional(view, STORE, compute_head_key(oem), AnchorHead)
    return head if head is not None else AnchorHead(0, 0)


def get_anchor_optional(view: KVView, oem: str, seq: int) -> Anchor | None:
    """Return an anchor or ``None``."""
    return get_record_optional(view, STORE, compute_anchor_key(oem, seq), Anchor)


def get_anchor(view: KVView, oem: str, seq: int) -> Anchor:
    """Return an anchor or raise ``NotFound``."""
    key = compute_anchor_key(oem, seq)
    return get_record(view, STORE, key, Anchor, "anchor", oem=oem, seq=seq)


def compute_anchor(oem: MemberId, body: SubmitAnchor, signer: bytes, ctx: BlockContext) -> Anchor:
    """Return the stored anchor for ``body``, submitted by ``signer`` in the block ``ctx``."""
    return Anchor(
        oem=oem,
        signer=signer,
        height=ctx.height,
        time_ms=ctx.time_ms,
        **msgspec.structs.asdict(body),
    )


def compute_anchor_body(anchor: Anchor) -> SubmitAnchor:
    """Return the ``anchor.submit`` body that ``anchor`` stores."""
    return SubmitAnchor(**{f: getattr(anchor, f) for f in SubmitAnchor.__struct_fields__})


def validate_anchor_body(body: SubmitAnchor) -> None:
    """Raise ``InvalidBody`` unless the anchor's fields are well-formed."""
    validate_digest(body.root, "gateway root")
    validate_digest(body.manifest_hash, "manifest hash")
    if not 0 < body.batch_count <= MAX_BATCHES_PER_ANCHOR:
        raise InvalidBody("batch count out of range", batch_count=body.batch_count)
    if not body.batch_count <= body.record_count <= MAX_RECORDS_PER_ANCHOR:
        raise InvalidBody("record count out of range", record_count=body.record_count)
    if not 0 <= body.start_ms <= body.end_ms < 2**63:
        raise InvalidBody("time range is inverted or out of range")


def process_submit_anchor(
    view: KVView, ctx: BlockContext, signer: bytes, body: SubmitAnchor, fx: Effects
) -> None:
    """Record a gateway root: next sequence number, at most one per OEM per block."""
    oem = members.validate_active_member(view, signer, Role.OEM)
    validate_anchor_body(body)
    head = get_anchor_head(view, oem.member_id)
    if body.seq != head.seq + 1:
        raise InvalidState(
            "anchor sequence must be the next one", seq=body.seq, expected=head.seq + 1
        )
    if head.seq and head.height >= ctx.height:
        raise InvalidState("one anchor per gateway per block", oem=oem.member_id)
    anchor = compute_anchor(oem.member_id, body, signer, ctx)
    put_record(view, STORE, compute_anchor_key(oem.member_id, body.seq), anchor)
    put_record(view, STORE, compute_head_key(oem.member_id), AnchorHead(body.seq, ctx.height))
    fx.emit(
        "anchor_submitted",
        oem=oem.member_id,
        seq=str(body.seq),
        root=body.root.hex(),
        batches=str(body.batch_count),
    )
