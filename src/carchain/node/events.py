"""The events of committed blocks as one ordered stream: positions, filters, extraction.

Every event of a committed transaction result has a position ``(height, tx index,
event index)``, written ``H:I:E``: that is its event id. Positions are totally
ordered, so "everything after ``H:I:E``" is a resume point with no gap and no
duplicate. After a block is read in full, ``H:T:0`` (``T`` its transaction count)
is a position past all of its events: a follower's cursor once block ``H`` is done.

The state machine's end-of-block steps write state only (``BlockResult.events`` is
empty and blocks keep transaction results only), so the stream carries the events
of the transaction results. Failed transactions have none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from carchain.core.event_ids import EventPosition
from carchain.core.transactions import compute_tx_hash
from carchain.node.backend import BlockView

# Attributes whose value is a member id: an event names the members these hold.
MEMBER_ATTRIBUTES = ("member_id", "oem", "proposer", "voter", "la1", "la2")
VEHICLE_ATTRIBUTE = "vehicle_id"


def compute_block_end(block: BlockView) -> EventPosition:
    """Return the position after every event of ``block`` (its cursor once read)."""
    return EventPosition(block.height, len(block.results), 0)


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One event of a committed transaction, with where and when it happened."""

    position: EventPosition
    tx_hash: bytes
    time_ms: int
    type: str
    attributes: dict[str, str]
    signer: str

    def to_json(self) -> dict[str, object]:
        """Return the event as the stream's JSON document."""
        p = self.position
        return {
            "id": p.to_id(),
            "height": p.height,
            "tx_index": p.tx_index,
            "event_index": p.event_index,
            "tx_hash": self.tx_hash.hex(),
            "time_ms": self.time_ms,
            "type": self.type,
            "attributes": self.attributes,
        }


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a subscriber wants; every given criterion must hold.

    ``types``: the event type is one of them. ``vehicle``: the event's ``vehicle_id``
    is it. ``member``: the event names the member (``MEMBER_ATTRIBUTES``) or its
    transaction was signed with ``member_key`` (the member's key, hex).
    """

    types: frozenset[str] = frozenset()
    vehicle: str = ""
    member: str = ""
    member_key: str = ""

    def is_match(self, event: ChainEvent) -> bool:
        """Return whether ``event`` passes the filter."""
        if self.types and event.type not in self.types:
            return False
        if self.vehicle and event.attributes.get(VEHICLE_ATTRIBUTE) != self.vehicle:
            return False
        return not self.member or self._is_member_match(event)

    def _is_member_match(self, event: ChainEvent) -> bool:
        if self.member_key and event.signer == self.member_key:
            return True
        return any(event.attributes.get(a) == self.member for a in MEMBER_ATTRIBUTES)


def iterate_block_events(block: BlockView) -> Iterator[ChainEvent]:
    """Yield every event of the block's transaction results, in position order.

    The first event of a successful transaction is ``tx`` (its type and signer);
    the signer is carried to every event of that transaction for the member filter.
    """
    for i, (raw, result) in enumerate(zip(block.txs, block.results, strict=True)):
        if not result.events:
            continue
        tx_hash = compute_tx_hash(raw)
        signer = next((e.attributes.get("signer", "") for e in result.events if e.type == "tx"), "")
        for j, ev in enumerate(result.events):
            position = EventPosition(block.height, i, j)
            yield ChainEvent(position, tx_hash, block.time_ms, ev.type, dict(ev.attributes), signer)


def select_block_events(
    block: BlockView, event_filter: EventFilter, after: EventPosition | None
) -> list[ChainEvent]:
    """Return the block's events that pass ``event_filter`` and lie after ``after``."""
    return [
        e
        for e in iterate_block_events(block)
        if (after is None or e.position > after) and event_filter.is_match(e)
    ]
