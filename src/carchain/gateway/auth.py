"""Who may read from a gateway: signed requests, checked against the chain's registries.

Every read route (batch listings, headers, ciphertext, proofs, key envelopes)
needs a request signed with Ed25519 (``sdk/request_signing.py``) for this
gateway's OEM (the audience): the signature, a time within ``max_skew_ms`` of
the gateway's clock and at or after the gateway's start, and a nonce not seen
in that window. Replays inside the window are refused by the nonce cache;
outside it, by the time bound; and requests signed before a restart, by the
start time. A nonce is remembered only once the route has authorised the
signer (below), at most ``MAX_NONCES_PER_KEY`` per key: keys that may read
nothing never enter the cache, so they cannot fill it for everyone else.

Who the key is, is read from committed state: the OEM's operators are its
active member key (member registry: active, role ``oem``, this member id) and
its custodian key; a vehicle's owner may read the batches whose time falls in
one of its ownership periods and the envelopes sealed to it. Everyone else is
refused (403) until consent and lawful access (issues 5 and 6) grant more.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from carchain.core import members
from carchain.core.members import Member, MemberStatus, Role
from carchain.core.state import KVView
from carchain.core.vehicles import get_owner_history
from carchain.crypto.signing import verify_signature
from carchain.errors import (
    GatewayKeyNotOem,
    InvalidSignature,
    NotFound,
    Unauthenticated,
    Unauthorized,
)
from carchain.sdk.request_signing import (
    HEADER_KEY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIME,
    NONCE_BYTES,
    compute_request_signing_bytes,
)

DEFAULT_MAX_SKEW_MS = 60_000
MAX_NONCES = 1_000_000
MAX_NONCES_PER_KEY = 10_000


def validate_gateway_key(view: KVView, public_key: bytes, oem: str) -> Member:
    """Return the member behind a gateway's key; raise ``GatewayKeyNotOem`` unless it is
    the active OEM ``oem`` (the only key whose anchors the chain accepts for ``oem``)."""
    m = members.get_member_by_key_optional(view, public_key)
    if m is None:
        raise GatewayKeyNotOem(
            f"key {public_key.hex()[:16]}… is not a consortium member key, so it cannot "
            f"anchor for {oem!r}"
        )
    if m.member_id != oem:
        raise GatewayKeyNotOem(f"the gateway key belongs to member {m.member_id!r}, not to {oem!r}")
    if Role.OEM.value not in m.roles:
        raise GatewayKeyNotOem(f"member {oem!r} does not have the oem role")
    if m.status != MemberStatus.ACTIVE:
        raise GatewayKeyNotOem(f"member {oem!r} is {m.status}, not active")
    return m


def _parse(headers: Mapping[str, str]) -> tuple[bytes, int, bytes, bytes]:
    try:
        key = bytes.fromhex(headers[HEADER_KEY])
        time_ms = int(headers[HEADER_TIME])
        nonce = bytes.fromhex(headers[HEADER_NONCE])
        sig = bytes.fromhex(headers[HEADER_SIGNATURE])
    except KeyError:
        raise Unauthenticated("this request must be signed (x-carchain-* headers)") from None
    except ValueError:
        raise Unauthenticated("malformed request signature headers") from None
    if len(nonce) != NONCE_BYTES:
        raise Unauthenticated("the request nonce must be 16 bytes")
    return key, time_ms, nonce, sig


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A request whose signature, audience and time checked out; its nonce is not yet
    remembered (``RequestAuthenticator.remember_at`` does that, once it is authorised)."""

    key: bytes
    time_ms: int
    nonce: bytes


class RequestAuthenticator:
    """Checks signed requests (audience, signature, clock skew) and remembers the nonces
    of authorised ones so they cannot be replayed. Thread-safe.

    Only requests the caller has authorised are remembered, at most
    ``max_per_key`` per key, so keys that may not read cannot fill the cache.
    """

    def __init__(
        self,
        audience: str,
        started_ms: int,
        max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
        max_nonces: int = MAX_NONCES,
        max_per_key: int = MAX_NONCES_PER_KEY,
    ) -> None:
        self.audience = audience
        self.started_ms = started_ms
        self.max_skew_ms = max_skew_ms
        self.max_nonces = max_nonces
        self.max_per_key = max_per_key
        self._seen: dict[bytes, bytes] = {}  # nonce -> signer key
        self._per_key: dict[bytes, int] = {}
        self._expiry: list[tuple[int, bytes]] = []  # heap of (forget after ms, nonce)
        self._lock = threading.Lock()

    def authenticate_at(
        self, method: str, path: str, query: str, headers: Mapping[str, str], now_ms: int
    ) -> SignedRequest:
        """Return the checked request; raise ``Unauthenticated`` if it is not signed by its
        key for this gateway's audience, is stale or from the future, predates this
        process, or reuses a remembered nonce. Remembers nothing."""
        key, time_ms, nonce, sig = _parse(headers)
        if abs(now_ms - time_ms) > self.max_skew_ms:
            raise Unauthenticated("request time is outside the accepted clock skew")
        if time_ms < self.started_ms:
            raise Unauthenticated("request signed before the gateway started; sign it again")
        signed = compute_request_signing_bytes(self.audience, method, path, query, time_ms, nonce)
        try:
            verify_signature(key, signed, sig)
        except InvalidSignature:
            raise Unauthenticated("request signature does not verify") from None
        with self._lock:
            if nonce in self._seen:
                raise Unauthenticated("request replayed (nonce already used)")
        return SignedRequest(key, time_ms, nonce)

    def remember_at(self, request: SignedRequest, now_ms: int) -> None:
        """Remember an authorised request's nonce; raise ``Unauthenticated`` if it is
        already remembered (a replay) or no room is left for it (per key or in all)."""
        with self._lock:
            self._forget_expired(now_ms)
            if request.nonce in self._seen:
                raise Unauthenticated("request replayed (nonce already used)")
            # Never forget a live nonce (that would allow a replay): refuse instead.
            if self._per_key.get(request.key, 0) >= self.max_per_key:
                raise Unauthenticated("too many signed requests by this key in the replay window")
            if len(self._seen) >= self.max_nonces:
                raise Unauthenticated("too many signed requests in the replay window; retry")
            self._seen[request.nonce] = request.key
            self._per_key[request.key] = self._per_key.get(request.key, 0) + 1
            forget_after = max(request.time_ms, now_ms) + 2 * self.max_skew_ms
            heapq.heappush(self._expiry, (forget_after, request.nonce))

    def _forget_expired(self, now_ms: int) -> None:
        while self._expiry and self._expiry[0][0] < now_ms:
            key = self._seen.pop(heapq.heappop(self._expiry)[1])
            left = self._per_key[key] - 1
            if left:
                self._per_key[key] = left
            else:
                del self._per_key[key]


class ReadAccess:
    """Decides what an authenticated key may read from one OEM's gateway."""

    def __init__(self, oem: str, custodian: bytes, view: KVView) -> None:
        self.oem = oem
        self.custodian = custodian
        self.view = view

    def is_operator(self, reader: bytes) -> bool:
        """Return whether ``reader`` is this OEM's custodian or its active member key."""
        if reader == self.custodian:
            return True
        try:
            validate_gateway_key(self.view, reader, self.oem)
        except GatewayKeyNotOem:
            return False
        return True

    def validate_vehicle_reader(self, reader: bytes, vehicle_id: str) -> None:
        """Raise ``Unauthorized`` unless ``reader`` is an operator or ever owned the vehicle.

        Checked before any batch is looked up, so a refusal says nothing about
        whether the vehicle has data.
        """
        if self.is_operator(reader):
            return
        try:
            owners = {p.owner for p in get_owner_history(self.view, vehicle_id)}
        except NotFound:
            owners = set()
        if reader not in owners:
            raise Unauthorized("this key may not read this vehicle's data")

    def validate_reader(self, reader: bytes, owner: bytes) -> None:
        """Raise ``Unauthorized`` unless ``reader`` is an operator or ``owner`` itself."""
        if reader != owner and not self.is_operator(reader):
            raise Unauthorized("this key may not read this vehicle's data at that time")
