"""Erasure tombstones: what a custodian destroyed for one erasure request, in full.

``erasure.complete`` carries the tombstone's SHA-256 (and as many refs as fit); the
tombstone itself lives with the gateway and lists every destroyed key ref and the days
(epochs) that had one. Its format is shared by the custody service that writes it and
the owner's SDK that checks it (``sdk/tombstone.py``).
"""

from __future__ import annotations

import msgspec

from carchain.core.erasure import Erasure

DAY_MS = 86_400_000
MAX_TIME_MS = 2**63 - 1
TOMBSTONE_LABEL = "carchain/tombstone/v1"


class TombstoneDoc(msgspec.Struct, array_like=True, frozen=True):
    """What an erasure destroyed, in full: its ``tombstone_hash`` is the SHA-256 of this."""

    label: str
    vehicle_id: str
    erasure_seq: int
    categories: list[str]
    epochs: list[int]
    destroyed: list[bytes]


def compute_scope_days(erasure: Erasure) -> tuple[int, int]:
    """Return ``(first ms, last ms)`` of the whole UTC days the erasure window touches
    (the last ms capped at the largest time)."""
    first = erasure.data_from_ms // DAY_MS
    last = erasure.data_until_ms // DAY_MS
    return first * DAY_MS, min((last + 1) * DAY_MS - 1, MAX_TIME_MS)


def compute_tombstone(erasure: Erasure, epochs: list[int], refs: list[bytes]) -> bytes:
    """Return the encoded tombstone of an erasure (canonical: same scope, same bytes)."""
    doc = TombstoneDoc(
        TOMBSTONE_LABEL, erasure.vehicle_id, erasure.seq, list(erasure.categories), epochs, refs
    )
    return msgspec.msgpack.encode(doc)
