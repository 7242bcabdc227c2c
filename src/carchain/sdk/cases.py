"""Client reads of lawful-access cases: typed records over a node's state, and the API's
documents.

The typed readers go through ``ChainView`` (one query per record, at the node's
latest height), so the custodian service and the officer read exactly the records
the chain's rules read. ``CaseClient`` adds the case routes of the node API
(``/cases...``, ``/escrow/keys/{member}``) to ``Client``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from carchain.core.case_records import STORE, Case, ShareRelease
from carchain.core.state import KVView, compute_key, get_record, get_record_optional
from carchain.errors import NotFound
from carchain.sdk.client import Client

MAX_RELEASES_READ = 100_000


def _get_u64(view: KVView, key: bytes) -> int:
    raw = view.get(STORE, key)
    return 0 if raw is None else int.from_bytes(raw, "big")


def get_case_count(view: KVView) -> int:
    """Return how many cases were opened (case ids are 1..count)."""
    return _get_u64(view, b"cn")


def get_case_optional(view: KVView, case_id: int) -> Case | None:
    """Return case ``case_id`` or ``None``."""
    if not 0 < case_id < 2**63:
        return None
    return get_record_optional(view, STORE, compute_key("c", case_id), Case)


def get_case(view: KVView, case_id: int) -> Case:
    """Return case ``case_id``; ``NotFound`` if there is none."""
    if not 0 < case_id < 2**63:
        raise NotFound("no such case", seq=case_id)
    return get_record(view, STORE, compute_key("c", case_id), Case, "case", seq=case_id)


def get_release_count(view: KVView, case_id: int) -> int:
    """Return how many share releases case ``case_id`` has."""
    return _get_u64(view, compute_key("crn", case_id))


def get_release(view: KVView, case_id: int, seq: int) -> ShareRelease:
    """Return release ``seq`` of a case; ``NotFound`` if there is none."""
    key = compute_key("cr", case_id, seq)
    return get_record(view, STORE, key, ShareRelease, "share release", seq=seq)


def get_releases(view: KVView, case_id: int) -> list[ShareRelease]:
    """Return every share release of a case, in order."""
    count = min(get_release_count(view, case_id), MAX_RELEASES_READ)
    return [get_release(view, case_id, n) for n in range(count)]


def is_share_released(
    view: KVView, case_id: int, vehicle_id: str, epoch: int, category: str, index: int
) -> bool:
    """Return whether a custodian's share of one key was released in the case."""
    key = compute_key("cs", case_id, vehicle_id, epoch, category, index)
    return view.get(STORE, key) is not None


def is_batch_receipted(view: KVView, case_id: int, vehicle_id: str, header_hash: bytes) -> bool:
    """Return whether the officer already posted a receipt for a batch of the case."""
    key = compute_key("crb", case_id, vehicle_id, header_hash)
    return view.get(STORE, key) is not None


def get_escrow_key_optional(view: KVView, member_id: str) -> bytes | None:
    """Return a member's registered escrow key or ``None``."""
    return view.get(STORE, compute_key("ek", member_id))


class CaseClient(Client):
    """A node client with the case and escrow read routes."""

    def case(self, case_id: int) -> dict[str, Any]:
        """Return a case as the API shows it (state, scope, votes, counts)."""
        return self._request_object("GET", f"/cases/{case_id}")

    def cases(self, before: int | None = None, limit: int = 20) -> dict[str, Any]:
        """Return a page of cases, newest first."""
        params: dict[str, Any] = {"limit": limit} | ({} if before is None else {"before": before})
        return self._request_object("GET", "/cases", params=params)

    def case_releases(self, case_id: int) -> dict[str, Any]:
        """Return the share releases of a case (sealed boxes, hex)."""
        return self._request_object("GET", f"/cases/{case_id}/releases")

    def case_receipts(self, case_id: int) -> dict[str, Any]:
        """Return the officer's receipts of a case."""
        return self._request_object("GET", f"/cases/{case_id}/receipts")

    def escrow_key(self, member_id: str) -> dict[str, Any]:
        """Return a member's registered escrow key."""
        return self._request_object("GET", f"/escrow/keys/{quote(member_id, safe='')}")
