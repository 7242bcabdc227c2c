"""The rows the audit index holds, computed from committed blocks and access-log entries.

Pure functions: a block view in, tuples out, in the column order of ``schema``.
Every value is one the chain already holds (ids, hashes, public keys, codes), never
personal data: the index adds no field the chain does not carry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from carchain.core.access_log import AccessEvent
from carchain.core.transactions import compute_tx_hash, decode_envelope
from carchain.errors import CarchainError
from carchain.node.backend import BlockView
from carchain.node.events import VEHICLE_ATTRIBUTE, iterate_block_events

ANCHOR_EVENT = "anchor_submitted"

Row = tuple[object, ...]


@dataclass(slots=True)
class IndexRows:
    """The rows of a run of heights, one list per table."""

    blocks: list[Row] = field(default_factory=list)
    transactions: list[Row] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)
    anchors: list[Row] = field(default_factory=list)
    access_log: list[Row] = field(default_factory=list)

    def count(self) -> int:
        """Return how many rows there are in all tables."""
        return sum(len(t) for t in self.tables().values())

    def tables(self) -> dict[str, list[Row]]:
        """Return the rows by table name."""
        return {
            "blocks": self.blocks, "transactions": self.transactions, "events": self.events,
            "anchors": self.anchors, "access_log": self.access_log,
        }  # fmt: skip


def _tx_type(raw: bytes) -> tuple[str, str]:
    """Return (type, signer hex) of a transaction, ``("", "")`` when it does not decode."""
    try:
        env = decode_envelope(raw)
    except CarchainError:
        return "", ""
    return env.type, env.signer.hex()


def compute_block_rows(block: BlockView, rows: IndexRows) -> None:
    """Append the rows of one committed block (header, transactions, events, anchors)."""
    h = block.height
    rows.blocks.append((h, block.hash, block.time_ms, block.app_hash, len(block.txs)))
    for i, (raw, result) in enumerate(zip(block.txs, block.results, strict=True)):
        tx_type, signer = _tx_type(raw)
        rows.transactions.append(
            (h, i, compute_tx_hash(raw), tx_type, signer, result.code, result.error_code)
        )
    for ev in iterate_block_events(block):
        p = ev.position
        attrs = json.dumps(ev.attributes, sort_keys=True, separators=(",", ":"))
        vehicle = ev.attributes.get(VEHICLE_ATTRIBUTE, "")
        rows.events.append(
            (h, p.tx_index, p.event_index, ev.tx_hash, ev.time_ms, ev.type, ev.signer, vehicle,
             attrs)
        )  # fmt: skip
        if ev.type == ANCHOR_EVENT:
            a = ev.attributes
            rows.anchors.append(
                (h, p.tx_index, a.get("oem", ""), int(a.get("seq", "0")),
                 bytes.fromhex(a.get("root", "")), int(a.get("batches", "0")))
            )  # fmt: skip


def compute_access_row(oem: str, oem_seq: int, event: AccessEvent) -> Row:
    """Return the ``access_log`` row of one access event and its OEM-log position."""
    return (
        event.vehicle_id, event.seq, oem, oem_seq, event.kind, event.height, event.time_ms,
        event.actor, event.actor_member, event.ref, list(event.categories), event.detail,
    )  # fmt: skip
