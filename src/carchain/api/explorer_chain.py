"""Explorer reads of blocks and the chain overview, each bounded by a fixed window.

- A block page reads at most ``MAX_BLOCK_PAGE`` blocks.
- The overview reads the last ``OVERVIEW_BLOCKS + 1`` blocks, at most
  ``MAX_LISTED_MEMBERS`` member and validator index entries, the governance
  proposals of the last ``MAX_OPEN_SCAN`` ids, and counts vehicles up to
  ``VEHICLE_COUNT_CAP`` (a count that reaches its bound is named in
  ``counts_capped``). The counts are cached per height: they only change with a block.
"""

from __future__ import annotations

import threading
from typing import Any

from carchain.api.explorer_anchors import get_gateway_heads
from carchain.api.tx_decode import MemberNames
from carchain.api.view import BackendView
from carchain.core import governance, members, vehicles
from carchain.core.validators import compute_validator_address
from carchain.node.backend import BlockView, NodeBackend

MAX_BLOCK_PAGE = 100
OVERVIEW_BLOCKS = 50
MAX_LISTED_MEMBERS = 1000
MAX_OPEN_SCAN = 1000
VEHICLE_COUNT_CAP = 10_000
_VEHICLE_COUNT_PAGE = 1000


def compute_block_summary(b: BlockView) -> dict[str, Any]:
    """Return a block's listing entry."""
    return {
        "height": b.height,
        "hash": b.hash.hex(),
        "time_ms": b.time_ms,
        "proposer": b.proposer.hex(),
        "tx_count": len(b.txs),
    }


def get_block_page(backend: NodeBackend, before: int | None, limit: int) -> dict[str, Any]:
    """Return up to ``limit`` blocks below ``before`` (default: the latest), newest first."""
    height = backend.status().height
    top = height if before is None else min(before - 1, height)
    low = max(top - limit + 1, 1)
    blocks = []
    for h in range(top, low - 1, -1):
        b = backend.get_block_optional(h)
        if b is not None:  # a block outside a pruned store's window is skipped
            blocks.append(compute_block_summary(b))
    return {"blocks": blocks, "next_before": low if low > 1 and top >= 1 else None}


def get_recent_blocks(backend: NodeBackend, height: int, count: int) -> list[BlockView]:
    """Return the blocks of the last ``count`` heights up to ``height``, ascending."""
    out = []
    for h in range(max(height - count + 1, 1), height + 1):
        b = backend.get_block_optional(h)
        if b is not None:
            out.append(b)
    return out


def compute_block_interval_ms(blocks: list[BlockView]) -> float | None:
    """Return the mean interval between consecutive ``blocks`` (``None`` below two)."""
    if len(blocks) < 2:
        return None
    return (blocks[-1].time_ms - blocks[0].time_ms) / (len(blocks) - 1)


def get_validators(backend: NodeBackend, names: MemberNames) -> list[dict[str, Any]]:
    """Return the validators (members with a validator key and power), by address."""
    out = []
    index = backend.iterate(members.STORE, members.VALIDATOR_INDEX_PREFIX, MAX_LISTED_MEMBERS, b"")
    for key, value in index:
        validator_key = members.get_validator_key_of_index(key)
        m = names.get_member_optional(value.decode())
        if m is None or m.validator_key != validator_key or m.power <= 0:
            continue
        out.append(
            {
                "address": compute_validator_address(validator_key).hex(),
                "power": m.power,
                "member_id": m.member_id,
                "name": m.name,
            }
        )
    return sorted(out, key=lambda v: str(v["address"]))


def count_open_proposals(view: BackendView, next_height: int) -> tuple[int, bool]:
    """Return how many proposals are open among the latest ``MAX_OPEN_SCAN`` ids, and
    whether older ones were left uncounted (ids grow with height: an old one is expired)."""
    raw = view.get(governance.STORE, b"seq")
    top = 0 if raw is None else int.from_bytes(raw, "big")
    count = 0
    pid = top
    while pid >= 1 and top - pid < MAX_OPEN_SCAN:
        p = governance.get_proposal_optional(view, pid)
        pid -= 1
        if p is None:
            continue
        if p.created_height + governance.MAX_TTL_BLOCKS < next_height:
            return count, False  # no older proposal can still be open
        if governance.compute_display_status(p, next_height) == "open":
            count += 1
    return count, pid >= 1


def count_vehicles(backend: NodeBackend) -> tuple[int, bool]:
    """Return how many vehicles are registered, up to ``VEHICLE_COUNT_CAP``, and whether
    the count reached that bound."""
    count = 0
    cursor = b""
    while count < VEHICLE_COUNT_CAP:
        page = [k for k, _ in backend.iterate(vehicles.STORE, vehicles.VEHICLE_KEY_PREFIX,
                                              _VEHICLE_COUNT_PAGE, cursor)]  # fmt: skip
        count += len(page)
        if len(page) < _VEHICLE_COUNT_PAGE:
            return count, False
        cursor = page[-1]
    return count, True


class CountsCache:
    """The overview's counts, computed once per height."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._height = -1
        self._value: tuple[dict[str, int], list[str]] = ({}, [])

    def get_counts(self, backend: NodeBackend, height: int) -> tuple[dict[str, int], list[str]]:
        """Return ``(counts, capped names)`` at ``height``."""
        with self._lock:
            if self._height != height:
                self._value = compute_counts(backend, height)
                self._height = height
            return self._value


def compute_counts(backend: NodeBackend, height: int) -> tuple[dict[str, int], list[str]]:
    """Return the overview's counts and the names of those that reached their bound."""
    view = BackendView(backend)
    open_count, open_capped = count_open_proposals(view, height + 1)
    vehicle_count, vehicles_capped = count_vehicles(backend)
    heads = get_gateway_heads(backend)
    counts = {
        "members": members.get_active_member_count(view),
        "vehicles": vehicle_count,
        "proposals_open": open_count,
        "anchors": sum(head.seq for _, head in heads),
    }
    capped = [n for n, c in (("vehicles", vehicles_capped), ("proposals_open", open_capped)) if c]
    return counts, capped


def get_overview(backend: NodeBackend, cache: CountsCache) -> dict[str, Any]:
    """Return the chain overview."""
    st = backend.status()
    recent = get_recent_blocks(backend, st.height, OVERVIEW_BLOCKS + 1)
    counts, capped = cache.get_counts(backend, st.height)
    return {
        "chain_id": st.chain_id,
        "height": st.height,
        "latest_block_time_ms": st.latest_block_time_ms,
        "block_interval_ms": compute_block_interval_ms(recent),
        "mempool_size": st.mempool_size,
        "validators": get_validators(backend, MemberNames(BackendView(backend))),
        "counts": counts,
        "counts_capped": capped,
        "throughput": [
            {"height": b.height, "time_ms": b.time_ms, "txs": len(b.txs)}
            for b in recent[-OVERVIEW_BLOCKS:]
        ],
    }
