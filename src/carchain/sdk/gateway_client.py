"""HTTP client for an OEM gateway, raising the same typed errors the gateway does.

Uploads need no request signature (the batch is signed by the vehicle); every
read is signed with ``signer`` (``sdk/request_signing.py``): the OEM's member or
custodian key, or the vehicle owner's account key. Each request is signed for
the gateway's OEM (its audience): pass ``oem``, or the client asks the
(unauthenticated) ``GET /status`` once and uses the ``oem`` it names.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from carchain.crypto.signing import SigningKey
from carchain.errors import NodeUnavailable
from carchain.sdk.http import HttpService, decode_object, get_object_list
from carchain.sdk.request_signing import sign_request_at


class GatewayClient(HttpService):
    """Uploads batches; fetches batch listings, ciphertext, sealed keys and batch proofs."""

    service = "gateway"

    def __init__(
        self,
        url: str,
        timeout_s: float = 30.0,
        signer: SigningKey | None = None,
        oem: str | None = None,
    ) -> None:
        super().__init__(url, timeout_s)
        self.signer = signer
        self.oem = oem

    def get_oem(self) -> str:
        """Return the OEM member id requests are signed for (asked of ``/status`` once)."""
        if self.oem is None:
            oem = self.status().get("oem")
            if not isinstance(oem, str) or not oem:
                raise NodeUnavailable(f"the gateway at {self.url} names no oem in /status")
            self.oem = oem
        return self.oem

    def _signed_get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        query = str(httpx.QueryParams(params or {}))
        headers = {}
        if self.signer is not None:
            oem = self.get_oem()
            now_ms = int(time.time() * 1000)
            headers = sign_request_at(self.signer, oem, "GET", path, query, now_ms)
        return self._send("GET", f"{path}?{query}" if query else path, headers=headers)

    def submit(self, body: bytes) -> dict[str, Any]:
        """Upload one encoded batch; return the receipt once the gateway stored it durably."""
        headers = {"content-type": "application/octet-stream"}
        return self._request_object("POST", "/batches", content=body, headers=headers)

    def submit_group(self, bodies: Sequence[bytes]) -> list[dict[str, Any]]:
        """Upload several encoded batches in one request (``POST /batches/group``);
        return each one's result in order: ``{header_hash, received}`` once stored
        durably, or ``{error: {code, message, fields}}`` for one the gateway refused."""
        headers = {"content-type": "application/octet-stream"}
        body = msgspec.msgpack.encode(list(bodies))
        doc = self._request_object("POST", "/batches/group", content=body, headers=headers)
        results = doc.get("results")
        if not isinstance(results, list) or len(results) != len(bodies):
            raise NodeUnavailable("the gateway answered a group upload with another count")
        return [dict(r) for r in results]

    def status(self) -> dict[str, Any]:
        """Return the gateway's counts."""
        return self._request_object("GET", "/status")

    def batches(
        self,
        vehicle_id: str,
        start_ms: int = 0,
        end_ms: int = 2**62,
        anchored_only: bool = False,
        case_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return a vehicle's batches overlapping ``[start_ms, end_ms]`` (those in the scope
        of lawful-access case ``case_id``, if given, for its officer or custodians)."""
        params: dict[str, Any] = {
            "vehicle_id": vehicle_id,
            "start_ms": start_ms,
            "end_ms": end_ms,
            "anchored_only": str(anchored_only).lower(),
        } | _case_param(case_id)
        doc = decode_object(self._signed_get("/batches", params), self.service)
        return get_object_list(doc, "batches", self.service)

    def batch(self, header_hash: bytes, case_id: int | None = None) -> dict[str, Any]:
        """Return one batch's header fields and anchoring state (as the officer of case
        ``case_id``, if given)."""
        resp = self._signed_get(f"/batches/{header_hash.hex()}", _case_param(case_id) or None)
        return decode_object(resp, self.service)

    def ciphertext(self, header_hash: bytes) -> bytes:
        """Return a batch's ciphertext."""
        return self._signed_get(f"/batches/{header_hash.hex()}/ciphertext").content

    def segment_ciphertext(
        self,
        header_hash: bytes,
        category: str,
        request_seq: int | None = None,
        case_id: int | None = None,
    ) -> bytes:
        """Return one category segment's ciphertext of a batch (as the requester of release
        ``request_seq``, or the officer of case ``case_id``, if given)."""
        path = f"/batches/{header_hash.hex()}/segments/{category}/ciphertext"
        params = ({} if request_seq is None else {"request_seq": request_seq}) | _case_param(
            case_id
        )
        return self._signed_get(path, params).content

    def release_package(self, vehicle_id: str, request_seq: int) -> bytes:
        """Return the sealed package of a release (for its requester only)."""
        return self._signed_get(f"/releases/{quote(vehicle_id, safe=':')}/{request_seq}").content

    def put_release_package(self, vehicle_id: str, request_seq: int, package: bytes) -> str:
        """Store a package the owner sealed for its release on chain; return its hash (hex)."""
        path = f"/releases/{quote(vehicle_id, safe=':')}/{request_seq}"
        headers = {"content-type": "application/octet-stream"}
        doc = self._request_object("POST", path, content=package, headers=headers)
        return str(doc.get("package_hash", ""))

    def tombstone(self, tombstone_hash: bytes) -> bytes:
        """Return an erasure's tombstone (every destroyed key ref)."""
        return self._signed_get(f"/tombstones/{tombstone_hash.hex()}").content

    def key_envelope(self, key_ref: bytes, case_id: int | None = None) -> bytes:
        """Return a sealed category key envelope (for case ``case_id``, if given)."""
        return self._signed_get(f"/keys/{key_ref.hex()}", _case_param(case_id) or None).content

    def batch_proof(
        self, header_hash: bytes, request_seq: int | None = None, case_id: int | None = None
    ) -> dict[str, Any]:
        """Return the batch's signed header, its proof to the gateway root and the anchor tx
        (as the requester of release ``request_seq``, or officer of case ``case_id``)."""
        params = ({} if request_seq is None else {"request_seq": request_seq}) | _case_param(
            case_id
        )
        resp = self._signed_get(f"/batches/{header_hash.hex()}/proof", params)
        return decode_object(resp, self.service)


def _case_param(case_id: int | None) -> dict[str, Any]:
    return {} if case_id is None else {"case_id": case_id}
