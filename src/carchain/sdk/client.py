"""HTTP client for a node's API, raising the same typed errors the node does."""

from __future__ import annotations

import base64
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from carchain.core.transactions import is_valid_nonce
from carchain.errors import InvalidProof, NodeUnavailable
from carchain.sdk.access_log import (
    AccessLogPage,
    parse_int_field,
    verify_access_log_page,
    verify_oem_access_log_page,
)
from carchain.sdk.events import StreamEvent, iterate_events
from carchain.sdk.http import HttpService, decode_object, get_object_list
from carchain.sdk.proofs import verify_state_proof

__all__ = ["DEFAULT_URL", "Client", "NodeUnavailable", "StreamEvent", "VerifiedValue"]

DEFAULT_URL = "http://127.0.0.1:8700"


@dataclass(frozen=True, slots=True)
class VerifiedValue:
    """A state value whose proof checked against the app hash of a block header."""

    store: str
    key: bytes
    value: bytes
    height: int
    app_hash: bytes


class Client(HttpService):
    """A thin, typed client for one node."""

    def __init__(self, url: str = DEFAULT_URL, timeout_s: float = 30.0) -> None:
        super().__init__(url, timeout_s)

    # --- chain ----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Return the node status."""
        return self._request_object("GET", "/status")

    def ready(self, timeout_s: float | None = None) -> dict[str, Any]:
        """Return the node's readiness; raise ``NotReady`` (503) when it is not ready
        (``timeout_s``: this call's own limit, shorter than the client's)."""
        if timeout_s is None:
            return self._request_object("GET", "/ready")
        return self._request_object("GET", "/ready", timeout=timeout_s)

    def block(self, height: int) -> dict[str, Any]:
        """Return the committed block at ``height``."""
        return self._request_object("GET", f"/blocks/{height}")

    def header(self, height: int) -> dict[str, Any]:
        """Return the header fields of the committed block at ``height`` and its
        ``tx_count`` (``GET /blocks/{height}/header``: no transactions, no results)."""
        return self._request_object("GET", f"/blocks/{height}/header")

    def raw_blocks(self, from_height: int = 1, limit: int = 100) -> dict[str, Any]:
        """Return a page of committed blocks from ``from_height`` up (``GET /blocks/raw``):
        ``blocks`` (height, hash, time_ms, app_hash, txs in base64) and ``next_height``."""
        params = {"from_height": from_height, "limit": limit}
        return self._request_object("GET", "/blocks/raw", params=params)

    def submit(
        self, tx: bytes, mode: Literal["sync", "commit"] = "sync", timeout_s: float = 10.0
    ) -> dict[str, Any]:
        """Submit a transaction; raise the typed error if it is refused or fails."""
        return self._request_object(
            "POST",
            "/txs",
            params={"mode": mode, "timeout": timeout_s},
            json={"tx": base64.b64encode(tx).decode()},
        )

    def submit_batch(self, txs: list[bytes]) -> dict[str, Any]:
        """Check several transactions in one request; one verdict each."""
        body = {"txs": [base64.b64encode(t).decode() for t in txs]}
        return self._request_object("POST", "/txs/batch", json=body)

    def tx(self, tx_hash: bytes) -> dict[str, Any]:
        """Return a transaction's status."""
        return self._request_object("GET", f"/txs/{tx_hash.hex()}")

    def query(self, store: str, key: bytes, prove: bool = False, height: int = 0) -> dict[str, Any]:
        """Return the raw query document for ``store/key`` at ``height`` (0: latest).

        The document's ``height`` is the state height read: pass it to a second
        query to read another key at the same height (one app hash for both).
        """
        params = {"key_hex": key.hex(), "prove": str(prove).lower()}
        if height:
            params["height"] = str(height)
        return self._request_object("GET", f"/state/{store}", params=params)

    def query_verified(self, store: str, key: bytes, height: int = 0) -> VerifiedValue:
        """Return ``store/key`` after checking its proof against the block header's app hash.

        The header comes from the same node; on a CometBFT network, check the
        header's commit signatures as well (see the network SDK).
        """
        doc = self.query(store, key, prove=True, height=height)
        try:
            value = bytes.fromhex(doc["value"])
            height = _get_int(doc, "proof_height" if "proof_height" in doc else "height")
            app_hash = bytes.fromhex(self.header(height)["app_hash"])
            proof = doc["proof"]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidProof(f"malformed node answer: {type(exc).__name__}") from exc
        verify_state_proof(app_hash, store, key, value, proof)
        return VerifiedValue(store, key, value, height, app_hash)

    def events(
        self,
        types: Iterable[str] = (),
        vehicle: str = "",
        member: str = "",
        from_height: int | None = None,
        follow: bool = True,
    ) -> Generator[StreamEvent, None, None]:
        """Yield the committed blocks' events (``GET /events``), each once and in order.

        Filters: event ``types``, a ``vehicle`` id, a ``member`` id. It starts at
        ``from_height`` (default: the next block when following, else block 1);
        with ``follow`` it waits for new blocks forever, reconnecting with
        ``Last-Event-ID`` after a dropped connection (no gap, no duplicate), else
        it ends at the node's committed height. Bad filters raise their typed error.
        ``close()`` the generator to hang up early.
        """
        params: dict[str, Any] = {"types": ",".join(types), "vehicle": vehicle, "member": member}
        if from_height is not None:
            params["from_height"] = from_height
        return iterate_events(self._http, {k: v for k, v in params.items() if v != ""}, follow)

    # --- access log ----------------------------------------------------------------

    def access_log(
        self, vehicle_id: str, before: int | None = None, limit: int = 20, height: int = 0
    ) -> AccessLogPage:
        """Return a page of the vehicle's access log, newest first, every entry proven.

        Each entry is checked against the app hash of the block header that commits
        the page's state, read from the same node; to trust it beyond this node,
        check the page's ``app_hash`` against a trusted header
        (``carchain.sdk.access_log_trust``: light client or a block section).
        """
        doc = self.access_log_doc(vehicle_id, before, limit, height)
        return verify_access_log_page(doc, vehicle_id, self.get_header_app_hash(doc), before, limit)

    def oem_access_log(
        self, oem: str, before: int | None = None, limit: int = 20, height: int = 0
    ) -> AccessLogPage:
        """Return a page of the access log of all the OEM's vehicles, newest first, proven."""
        doc = self.oem_access_log_doc(oem, before, limit, height)
        return verify_oem_access_log_page(doc, oem, self.get_header_app_hash(doc), before, limit)

    def access_log_doc(
        self, vehicle_id: str, before: int | None = None, limit: int = 20, height: int = 0
    ) -> dict[str, Any]:
        """Return the raw (unverified) page document of the vehicle's access log."""
        return self._get_log_page(f"/vehicles/{vehicle_id}/access-log", before, limit, height)

    def oem_access_log_doc(
        self, oem: str, before: int | None = None, limit: int = 20, height: int = 0
    ) -> dict[str, Any]:
        """Return the raw (unverified) page document of the OEM's access log."""
        return self._get_log_page(f"/members/{oem}/access-log", before, limit, height)

    def _get_log_page(
        self, path: str, before: int | None, limit: int, height: int
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        if height:
            params["height"] = height
        return self._request_object("GET", path, params=params)

    def get_header_app_hash(self, doc: dict[str, Any]) -> bytes:
        """Return the app hash of the header the page names; ``InvalidProof`` if the
        page states another one."""
        at = parse_int_field(doc, "proof_height", optional=True)
        at = parse_int_field(doc, "height") if at is None else at
        try:
            header_hash = bytes.fromhex(str(self.header(at or 0)["app_hash"]))
        except (KeyError, ValueError) as exc:
            raise InvalidProof("the node's block header has no usable app hash") from exc
        if doc.get("app_hash") != header_hash.hex():
            raise InvalidProof("page's app hash differs from its block header's", height=at)
        return header_hash

    # --- lawful access: public views ------------------------------------------------

    def transparency_doc(
        self, period: str = "", start: int = 0, limit: int = 500, height: int = 0
    ) -> dict[str, Any]:
        """Return the raw (unverified) transparency counters of a quarter (default: now's)."""
        params: dict[str, Any] = {"start": start, "limit": limit, "height": height}
        if period:
            params["period"] = period
        return self._request_object("GET", "/transparency", params=params)

    def transparency_annual_doc(
        self, oem: str, year: int, start: int = 0, limit: int = 500, height: int = 0
    ) -> dict[str, Any]:
        """Return the raw (unverified) counters of one OEM's calendar year."""
        params = {"oem": oem, "year": year, "start": start, "limit": limit, "height": height}
        return self._request_object("GET", "/transparency/annual", params=params)

    def sealed_cases(
        self, oem: str, start: int = 0, limit: int = 100, height: int = 0
    ) -> dict[str, Any]:
        """Return a page of the cases touching the OEM's vehicles (no case reference)."""
        params = {"start": start, "limit": limit, "height": height}
        return self._request_object("GET", f"/members/{oem}/sealed-cases", params=params)

    def vehicle_cases(self, vehicle_id: str, height: int = 0) -> dict[str, Any]:
        """Return the noticed cases that touched the vehicle, each record proven."""
        params = {"height": height}
        return self._request_object("GET", f"/vehicles/{vehicle_id}/cases", params=params)

    # --- registry ----------------------------------------------------------------

    def nonce(self, public_key: bytes) -> int:
        """Return the last nonce the signer used; ``NodeUnavailable`` if the node's answer
        is not one a next transaction can follow (absent, not an int, negative, 2**63 - 1
        or more), so no caller signs or crashes on a hostile node's value."""
        doc = self._request_object("GET", f"/accounts/{public_key.hex()}")
        value = doc.get("nonce")
        if isinstance(value, bool) or not isinstance(value, int) or not is_valid_nonce(value + 1):
            raise NodeUnavailable(f"{self.service} at {self.url} answered no usable nonce")
        return value

    def member(self, member_id: str) -> dict[str, Any]:
        """Return a member."""
        return self._request_object("GET", f"/members/{member_id}")

    def members(self, limit: int = 100, after: str = "") -> list[dict[str, Any]]:
        """List members."""
        doc = self._request_object("GET", "/members", params={"limit": limit, "after": after})
        return get_object_list(doc, "members", self.service)

    def vehicle(self, vehicle_id: str) -> dict[str, Any]:
        """Return a vehicle."""
        return self._request_object("GET", f"/vehicles/{vehicle_id}")

    def consents(
        self, vehicle_id: str, before: int | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """Return a page of the vehicle's grants, newest first, each with ``in_force``."""
        params: dict[str, Any] = {"limit": limit} | ({} if before is None else {"before": before})
        return self._request_object("GET", f"/vehicles/{vehicle_id}/consents", params=params)

    def access_request(self, vehicle_id: str, seq: int) -> dict[str, Any]:
        """Return an access request with the chain's decision, its release and receipts."""
        return self._request_object("GET", f"/vehicles/{vehicle_id}/access-requests/{seq}")

    def erasures(self, vehicle_id: str) -> dict[str, Any]:
        """Return the vehicle's erasure requests."""
        return self._request_object("GET", f"/vehicles/{vehicle_id}/erasures")

    def erasure(self, vehicle_id: str, seq: int) -> dict[str, Any]:
        """Return one erasure request and its tombstone once complete."""
        return self._request_object("GET", f"/vehicles/{vehicle_id}/erasures/{seq}")

    def overdue_erasures(
        self, oem: str, before: int | None = None, limit: int = 20
    ) -> dict[str, Any]:
        """Return how many of the OEM's erasures are overdue now and its overdue history."""
        params: dict[str, Any] = {"limit": limit} | ({} if before is None else {"before": before})
        return self._request_object("GET", f"/members/{oem}/erasures/overdue", params=params)

    def holds(self, vehicle_id: str) -> dict[str, Any]:
        """Return the legal holds in force over the vehicle."""
        return self._request_object("GET", f"/vehicles/{vehicle_id}/holds")

    def vehicles(self, limit: int = 100, after: str = "", oem: str = "") -> list[dict[str, Any]]:
        """List vehicles."""
        params = {"limit": limit, "after": after, "oem": oem}
        doc = self._request_object("GET", "/vehicles", params=params)
        return get_object_list(doc, "vehicles", self.service)

    def _get_app_hash(self, height: int) -> bytes:
        return bytes.fromhex(self.header(height)["app_hash"])

    def escrow_committee(self, epoch: int, oem: str = "") -> dict[str, Any]:
        """Return the escrow committee in force for ``epoch`` and its seat keys for a
        vehicle of ``oem`` (``NotFound`` if there is none)."""
        params: dict[str, Any] = {"epoch": epoch} | ({"oem": oem} if oem else {})
        return self._request_object("GET", "/escrow/committee", params=params)

    def proposal(self, proposal_id: int) -> dict[str, Any]:
        """Return a governance proposal."""
        return self._request_object("GET", f"/proposals/{proposal_id}")

    def proposals(
        self, status: str = "", before: int = 0, limit: int = 20
    ) -> dict[str, Any] | None:
        """Return a page of proposals, newest first (``{proposals, next_before}``);
        ``None`` when the node has no list route (an older node answers 404)."""
        params: dict[str, str | int] = {"limit": limit}
        if status:
            params["status"] = status
        if before:
            params["before"] = before
        resp = self._send("GET", "/proposals", ok=(200, 404), params=params)
        if resp.status_code == 404:  # the list answers an empty page, never 404
            return None
        return decode_object(resp, self.service)


def _get_int(doc: dict[str, Any], field: str) -> int:
    value = doc[field]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise ValueError(f"{field} is not a positive integer")
    return value
