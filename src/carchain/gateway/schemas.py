"""Response models of the gateway's routes, for its OpenAPI document.

The routes build plain dicts of these shapes; binary answers (ciphertext, key
envelopes, release packages, tombstones) are documented as
``application/octet-stream`` by ``compute_octet_response``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from carchain.api.schemas import ErrorDetail, MerkleProofModel

OCTETS = "application/octet-stream"


def compute_octet_response(what: str) -> dict[int | str, dict[str, Any]]:
    """Return the ``responses`` entry of a 200 whose body is raw bytes."""
    schema = {"type": "string", "format": "binary"}
    return {200: {"description": what, "content": {OCTETS: {"schema": schema}}}}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GatewayStatusOut(BaseModel):
    """Batch and anchor counts, the anchoring and custody loops' health.

    With a custodian key, ``custody_<kind>_<state>`` counts of custody tasks are
    added beside the fields below.
    """

    model_config = ConfigDict(extra="allow")

    oem: str
    batches: int
    anchored: int
    unanchored: int
    anchors: int
    anchoring: str = Field(description="`ok` or `failing`.")
    anchor_errors: int
    anchor_errors_total: int
    anchor_last_error: str
    anchor_last_error_ms: int
    anchor_failing_since_ms: int
    anchor_retry_in_s: float
    registry_height: int = Field(
        description="Height up to which the vehicle registry view applied every vehicle event."
    )
    registry_cached: int = Field(description="Vehicle records the view holds in memory.")
    registry_hits: int = Field(description="Lookups answered from memory.")
    registry_reads: int = Field(
        description="Lookups read from the node (first use or after a change)."
    )
    registry_syncs: int = Field(
        description="Syncs with the node's height (shared by many uploads)."
    )
    registry_resets: int = Field(
        description="Times the view forgot every record (node height down, long gap, "
        "stream refused)."
    )

    instance: str = Field(description="This gateway instance's id in the anchoring lease.")
    role: str = Field(description="`leader` (holds the lease: anchors) or `standby`.")
    lease_holder: str = Field(description="The instance holding the lease (empty: never taken).")
    lease_epoch: int = Field(description="The lease's epoch (fencing token), 0 if never taken.")
    lease_expires_ms: int = Field(description="When the lease expires unrenewed (ms).")
    custody: str = Field(description="`ok`, `failing` or `off (...)`.")
    custody_errors: int | None = None
    custody_errors_total: int | None = None
    custody_last_error: str | None = None
    custody_failing_since_ms: int | None = None
    custody_cursor: int | None = None


class UploadReceipt(_Strict):
    """A durable upload: its header hash and when the gateway received it."""

    header_hash: str = Field(description="SHA-256 of the signed header, hex.")
    received: int = Field(description="Receive time, ms since the epoch.")


class GroupItemOut(BaseModel):
    """One upload of a group: its receipt, or the error document that refused it."""

    header_hash: str | None = Field(None, description="Accepted: the signed header's hash.")
    received: int | None = Field(None, description="Accepted: the receipt number.")
    error: ErrorDetail | None = Field(None, description="Refused: why (as a 4xx would say).")


class GroupReceipt(_Strict):
    """What a group upload came to, one item per upload in the order sent."""

    accepted: int = Field(description="How many uploads were stored (durably, together).")
    results: list[GroupItemOut]


class SegmentOut(_Strict):
    """One category segment of a batch (hex hashes)."""

    category: str
    count: int
    records_root: str
    offset: int
    ciphertext_size: int
    ciphertext_hash: str
    key_ref: str


class BatchOut(_Strict):
    """A batch's header fields and anchoring state."""

    header_hash: str
    vehicle_id: str
    epoch: int
    seq: int
    start_ms: int
    end_ms: int
    record_count: int
    categories: list[str]
    ciphertext_size: int
    ciphertext_hash: str
    segments: list[SegmentOut]
    anchor_seq: int | None
    anchor_height: int = Field(description="Height of its anchor (0: not anchored yet).")


class BatchDetail(BatchOut):
    """One batch, with the encoded signed header a reader needs to open its segments."""

    batch_header: str = Field(description="The signed header, MessagePack, hex.")


class BatchList(_Strict):
    """A vehicle's batches the reader may see."""

    batches: list[BatchOut]


class AnchorOut(_Strict):
    """The anchor transaction that carries a batch's gateway root."""

    oem: str
    seq: int
    root: str
    height: int
    tx: str = Field(description="The encoded anchor transaction, hex.")


class BatchProofOut(_Strict):
    """A batch's signed header, its proof to the gateway root and the anchor."""

    batch_header: str
    batch_proof: MerkleProofModel
    anchor: AnchorOut


class StoredPackage(_Strict):
    """A stored release package."""

    package_hash: str = Field(description="SHA-256 of the package, hex.")


class RelayedReport(_Strict):
    """A misbehaviour report committed on chain."""

    report_seq: int | None
    height: int | None
