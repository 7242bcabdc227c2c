"""HTTP client for a node's API, raising the same typed errors the node does."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from carchain.core.access_log import STORE as ACCESS_STORE
from carchain.core.access_log import (
    AccessEvent,
    compute_log_key,
    compute_log_size_key,
    compute_page_seqs,
)
from carchain.core.transactions import is_valid_nonce
from carchain.errors import InvalidProof, NodeUnavailable
from carchain.sdk.http import HttpService, get_object_list
from carchain.sdk.proofs import verify_state_proof

__all__ = ["DEFAULT_URL", "Client", "NodeUnavailable", "VerifiedValue"]

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

    def block(self, height: int) -> dict[str, Any]:
        """Return the committed block at ``height``."""
        return self._request_object("GET", f"/blocks/{height}")

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
            app_hash = bytes.fromhex(self.block(height)["app_hash"])
            proof = doc["proof"]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidProof(f"malformed node answer: {type(exc).__name__}") from exc
        verify_state_proof(app_hash, store, key, value, proof)
        return VerifiedValue(store, key, value, height, app_hash)

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

    def vehicles(self, limit: int = 100, after: str = "", oem: str = "") -> list[dict[str, Any]]:
        """List vehicles."""
        params = {"limit": limit, "after": after, "oem": oem}
        doc = self._request_object("GET", "/vehicles", params=params)
        return get_object_list(doc, "vehicles", self.service)

    def access_log(
        self, vehicle_id: str, before: int | None = None, limit: int = 20
    ) -> dict[str, Any]:
        """Return a page of a vehicle's access log (newest first), each event with its proof."""
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        return self._request_object("GET", f"/vehicles/{vehicle_id}/access-log", params=params)

    def access_log_verified(
        self, vehicle_id: str, before: int | None = None, limit: int = 20
    ) -> tuple[list[AccessEvent], int | None]:
        """Return a page of events, each proven against the header's app hash, and the cursor.

        Raise ``InvalidProof`` if any event's proof fails, the proven log size does
        not match the page, or the node's answer is malformed. The header comes
        from the same node (see ``query_verified``). A log that was never written
        cannot be proven empty (state proves no absence): an empty answer is taken
        as it is.
        """
        doc = self.access_log(vehicle_id, before, limit)
        try:
            entries = list(doc["events"])
            if doc["size"] == 0 and doc["size"] is not False and not entries:
                # A log never written has no key to prove: state cannot prove absence.
                return [], None
            size = _get_int(doc, "size")
            app_hash = bytes.fromhex(self.block(_get_int(doc, "proof_height"))["app_hash"])
            size_key = compute_log_size_key(vehicle_id)
            size_value = size.to_bytes(8, "big")
            verify_state_proof(app_hash, ACCESS_STORE, size_key, size_value, doc["size_proof"])
            events = [_verify_event(app_hash, vehicle_id, e) for e in entries]
        except (KeyError, TypeError, ValueError, OverflowError, msgspec.DecodeError) as exc:
            raise InvalidProof(f"malformed node answer: {type(exc).__name__}") from exc
        # A complete page: exactly the seqs below ``before`` of the proven size.
        if [e.seq for e in events] != compute_page_seqs(size, before, limit):
            raise InvalidProof("the node left events out of the access-log page")
        return events, (events[-1].seq or None) if events else None

    def proposal(self, proposal_id: int) -> dict[str, Any]:
        """Return a governance proposal."""
        return self._request_object("GET", f"/proposals/{proposal_id}")


def _verify_event(app_hash: bytes, vehicle_id: str, entry: dict[str, Any]) -> AccessEvent:
    key, value = bytes.fromhex(entry["key"]), bytes.fromhex(entry["value"])
    event = msgspec.msgpack.decode(value, type=AccessEvent)
    if key != compute_log_key(vehicle_id, event.seq) or event.vehicle_id != vehicle_id:
        raise InvalidProof("an access-log entry is not this vehicle's event it claims to be")
    verify_state_proof(app_hash, ACCESS_STORE, key, value, entry["proof"])
    return event


def _get_int(doc: dict[str, Any], field: str) -> int:
    value = doc[field]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise ValueError(f"{field} is not a positive integer")
    return value
