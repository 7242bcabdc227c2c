"""Explorer reads of governance proposals and vehicles, bounded per request.

- A proposal page examines at most ``MAX_PROPOSAL_SCAN`` proposal ids (newest
  first); with a status filter it may return fewer than ``limit`` items and a
  ``next_before`` to continue from.
- A vehicle page filtered by OEM reads that OEM's key range only (vehicle ids
  are ``<oem>:<local id>``); filtered by owner (no index) it examines at most
  ``MAX_VEHICLE_SCAN`` vehicles and returns ``next_after`` to continue from.
"""

from __future__ import annotations

from typing import Any

from carchain.api.tx_decode import MemberNames, compute_body_json
from carchain.core import governance, vehicles
from carchain.core.state import KVView
from carchain.core.validation import NAMESPACE_SEPARATOR
from carchain.node.backend import NodeBackend

MAX_PROPOSAL_SCAN = 500
MAX_VEHICLE_SCAN = 2000
# The list filter's names: ``passed`` is the stored ``executed``.
STATUS_FILTERS = {
    "open": "open",
    "passed": "executed",
    "executed": "executed",
    "failed": "failed",
    "rejected": "rejected",
    "expired": "expired",
}


def compute_proposal_item(
    p: governance.Proposal, next_height: int, names: MemberNames
) -> dict[str, Any]:
    """Return a proposal as the explorer shows it (the stored fields kept as they are)."""
    action = compute_body_json(p.action)
    votes = [
        {
            "member_id": m,
            "name": names.get_name_optional(m),
            "vote": "yes",
            # The proposer's yes is cast in the creation block; other votes' heights
            # are not kept in state (their blocks have them).
            "height": p.created_height if i == 0 and m == p.proposer else None,
        }
        for i, m in enumerate(p.yes)
    ]
    votes += [
        {"member_id": m, "name": names.get_name_optional(m), "vote": "no", "height": None}
        for m in p.no
    ]
    return {
        "id": p.proposal_id,
        "proposal_id": p.proposal_id,
        "kind": str(action.get("type", "")),
        "proposer": p.proposer,
        "proposer_name": names.get_name_optional(p.proposer),
        "status": governance.compute_display_status(p, next_height),
        "created_height": p.created_height,
        "expires_height": p.expires_height,
        "yes": list(p.yes),
        "no": list(p.no),
        "votes": votes,
        "body": action,
        "action": action,
        "outcome": p.outcome,
    }


def get_proposal_count(view: KVView) -> int:
    """Return the latest proposal id (0 before the first)."""
    raw = view.get(governance.STORE, b"seq")
    return 0 if raw is None else int.from_bytes(raw, "big")


def get_proposal_page(
    view: KVView, next_height: int, status: str | None, before: int | None, limit: int
) -> dict[str, Any]:
    """Return up to ``limit`` proposals with ids below ``before``, newest first."""
    names = MemberNames(view)
    want = None if status is None else STATUS_FILTERS[status]
    top = get_proposal_count(view)
    pid = top if before is None else min(before - 1, top)
    out: list[dict[str, Any]] = []
    scanned = 0
    while pid >= 1 and len(out) < limit and scanned < MAX_PROPOSAL_SCAN:
        p = governance.get_proposal_optional(view, pid)
        scanned += 1
        if p is not None and (
            want is None or governance.compute_display_status(p, next_height) == want
        ):
            out.append(compute_proposal_item(p, next_height, names))
        pid -= 1
    return {"proposals": out, "next_before": pid + 1 if pid >= 1 else None}


def compute_vehicle_item(v: vehicles.Vehicle, names: MemberNames) -> dict[str, Any]:
    """Return a vehicle's listing entry: its registration and its OEM's name."""
    doc: dict[str, Any] = compute_body_json(v)
    doc["oem_name"] = names.get_name_optional(v.oem)
    return doc


def get_vehicle_page(
    backend: NodeBackend, view: KVView, oem: str, owner: bytes | None, after: str, limit: int
) -> dict[str, Any]:
    """Return up to ``limit`` vehicles by id after ``after``, of ``oem`` and ``owner`` if given."""
    names = MemberNames(view)
    prefix = vehicles.VEHICLE_KEY_PREFIX
    if oem:
        prefix += f"{oem}{NAMESPACE_SEPARATOR}".encode()
    cursor = vehicles.compute_vehicle_key(after) if after else b""
    out: list[dict[str, Any]] = []
    scanned, done = 0, False
    while len(out) < limit and scanned < MAX_VEHICLE_SCAN and not done:
        want = min(limit if owner is None else 500, MAX_VEHICLE_SCAN - scanned)
        page = list(backend.iterate(vehicles.STORE, prefix, want, cursor))
        done = len(page) < want
        for i, (key, raw) in enumerate(page):
            scanned += 1
            cursor = key
            rec = vehicles.decode_vehicle(raw)
            if owner is None or rec.owner == owner:
                out.append(compute_vehicle_item(rec, names))
            if len(out) >= limit:
                done = done and i == len(page) - 1
                break
    next_after = None if done or not cursor else cursor[len(vehicles.VEHICLE_KEY_PREFIX) :]
    return {"vehicles": out, "next_after": None if next_after is None else next_after.decode()}
