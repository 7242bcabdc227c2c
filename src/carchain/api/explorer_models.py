"""Response models of the explorer read API (see docs/explorer-api.md).

They document the shapes in the OpenAPI document; the routes build plain dicts
of these shapes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class DecodedEvent(BaseModel):
    """An event a transaction emitted."""

    type: str
    attributes: dict[str, str]


class DecodedResult(BaseModel):
    """A transaction's result: code 0 and ``error_code`` null when its rules passed."""

    code: int
    error_code: str | None
    log: str
    events: list[DecodedEvent]


class DecodedTx(BaseModel):
    """A committed transaction, decoded with the transaction registry."""

    hash: str = Field(description="SHA-256 of the encoded envelope, hex.")
    index: int
    height: int
    type: str = Field(description='Registry name, e.g. "vehicle.register".')
    signer: str = Field(description="The signer's Ed25519 public key, hex.")
    signer_member: str | None = Field(description="The member holding that key now, if any.")
    signer_name: str | None
    nonce: int
    body: dict[str, Any] | None = Field(
        description="The body as JSON (bytes as hex); null if it does not decode."
    )
    result: DecodedResult


class ValidatorOut(BaseModel):
    """A validator: CometBFT address (hex) and power, with the member holding its key."""

    address: str
    power: int
    member_id: str | None
    name: str | None


class OverviewCounts(BaseModel):
    """How many members (active), vehicles, open proposals and anchors the chain has."""

    members: int
    vehicles: int
    proposals_open: int
    anchors: int


class ThroughputPoint(BaseModel):
    """One block's transaction count."""

    height: int
    time_ms: int
    txs: int


class OverviewOut(BaseModel):
    """The chain at a glance."""

    chain_id: str
    height: int
    latest_block_time_ms: int
    block_interval_ms: float | None = Field(
        description="Mean of the last up-to-50 block intervals; null below 2 blocks."
    )
    mempool_size: int
    validators: list[ValidatorOut]
    counts: OverviewCounts
    counts_capped: list[str] = Field(
        description="Names of counts that reached their bound (the count is a lower bound)."
    )
    throughput: list[ThroughputPoint] = Field(description="Last up to 50 blocks, ascending.")


class BlockSummary(BaseModel):
    """One block of a listing."""

    height: int
    hash: str
    time_ms: int
    proposer: str
    tx_count: int


class BlockPage(BaseModel):
    """Blocks newest first; ``next_before`` continues the listing (null at block 1)."""

    blocks: list[BlockSummary]
    next_before: int | None


class VoteOut(BaseModel):
    """One member's vote; ``height`` is known for the proposer's (its creation block)."""

    member_id: str
    name: str | None
    vote: Literal["yes", "no"]
    height: int | None


class ProposalOut(BaseModel):
    """A governance proposal with its votes and the action it proposes."""

    id: int
    proposal_id: int
    kind: str = Field(description='The action\'s type, e.g. "suspend_member".')
    proposer: str
    proposer_name: str | None
    status: str = Field(description="open, executed (passed), failed, rejected or expired.")
    created_height: int
    expires_height: int
    yes: list[str]
    no: list[str]
    votes: list[VoteOut]
    body: dict[str, Any]
    action: dict[str, Any]
    outcome: str


class ProposalPage(BaseModel):
    """Proposals newest first; ``next_before`` continues the listing."""

    proposals: list[ProposalOut]
    next_before: int | None


class AnchorOut(BaseModel):
    """One anchor transaction of a gateway (its OEM member)."""

    gateway: str
    gateway_name: str | None
    seq: int
    height: int
    time_ms: int
    batches: int
    records: int
    root: str


class AnchorPage(BaseModel):
    """Anchors newest first; ``next_before`` continues the listing."""

    anchors: list[AnchorOut]
    next_before: int | None


class AnchorPoint(BaseModel):
    """Cumulative batches and records of a gateway after the anchor at ``height``."""

    height: int
    time_ms: int
    batches: int
    records: int


class GatewaySummary(BaseModel):
    """A gateway's anchor totals and their cumulative series (at most 100 points)."""

    gateway: str
    name: str | None
    anchors: int
    batches: int
    records: int
    complete: bool = Field(description="False while the node is still summing old anchors.")
    series: list[AnchorPoint]


class AnchorSummary(BaseModel):
    """Every gateway that anchored at least once."""

    gateways: list[GatewaySummary]


class SearchHit(BaseModel):
    """What a search query names, and the API path that reads it."""

    kind: Literal["block", "tx", "vehicle", "member", "case"]
    id: str
    path: str


class VehicleItem(BaseModel):
    """A vehicle of a listing (no VIN: only its salted commitment)."""

    vehicle_id: str
    oem: str
    oem_name: str | None
    owner: str
    registered_height: int
    status: str
    model: str
    year: int
    public_key: str
    vin_commitment: str
    key_version: int
    transfer_seq: int
    revoked_reason: str
    key_since_ms: int
    owner_since_ms: int


class VehiclePage(BaseModel):
    """Vehicles by id; ``next_after`` continues the listing (null when done)."""

    vehicles: list[VehicleItem]
    next_after: str | None
