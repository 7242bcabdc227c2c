"""Client reads of lawful-access cases: typed records over a node's state, and the API's
documents.

The typed readers are core's own (``core.cases``, ``core.escrow_releases``,
``core.escrow_committee``) over ``ChainView`` (one query per record, at the node's
latest height), so the custodian service and the officer read exactly the records
the chain's rules read. ``CaseClient`` adds the case routes of the node API
(``/cases...``, ``/escrow/keys/{member}``) to ``Client``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from carchain.core.case_records import STORE, ShareItem
from carchain.core.cases import get_case, get_case_count, get_case_optional, is_expired
from carchain.core.escrow_committee import get_escrow_key_optional
from carchain.core.escrow_releases import (
    compute_receipted_batch_key,
    compute_share_key,
    get_receipts,
    get_release_count,
    get_release_optional,
    get_releases,
)
from carchain.core.state import KVView
from carchain.sdk.client import Client

__all__ = [
    "CaseClient",
    "get_case",
    "get_case_count",
    "get_case_optional",
    "get_escrow_key_optional",
    "get_receipts",
    "get_release_count",
    "get_release_optional",
    "get_releases",
    "is_batch_receipted",
    "is_expired",
    "is_share_released",
]


def is_share_released(
    view: KVView, case_id: int, vehicle_id: str, epoch: int, category: str, index: int
) -> bool:
    """Return whether a custodian's share of one key was released in the case."""
    key = compute_share_key(case_id, ShareItem(vehicle_id, epoch, category, index, b""))
    return view.get(STORE, key) is not None


def is_batch_receipted(view: KVView, case_id: int, vehicle_id: str, header_hash: bytes) -> bool:
    """Return whether the officer already posted a receipt for a batch of the case."""
    key = compute_receipted_batch_key(case_id, vehicle_id, header_hash)
    return view.get(STORE, key) is not None


class CaseClient(Client):
    """A node client with the case and escrow read routes."""

    def case(self, case_id: int) -> dict[str, Any]:
        """Return a case as the API shows it (state, scope, votes, counts)."""
        return self._request_object("GET", f"/cases/{case_id}")

    def cases(self, before: int | None = None, limit: int = 20) -> dict[str, Any]:
        """Return a page of cases, newest first."""
        params: dict[str, Any] = {"limit": limit} | ({} if before is None else {"before": before})
        return self._request_object("GET", "/cases", params=params)

    def case_releases(self, case_id: int, after: int = 0, limit: int = 100) -> dict[str, Any]:
        """Return a page of the share releases of a case (sealed boxes, hex)."""
        params = {"after": after, "limit": limit}
        return self._request_object("GET", f"/cases/{case_id}/releases", params=params)

    def case_receipts(self, case_id: int) -> dict[str, Any]:
        """Return the officer's receipts of a case."""
        return self._request_object("GET", f"/cases/{case_id}/receipts")

    def escrow_key(self, member_id: str) -> dict[str, Any]:
        """Return a member's registered escrow key."""
        return self._request_object("GET", f"/escrow/keys/{quote(member_id, safe='')}")
