"""Lawful resolution of V2X pseudonyms: an OEM's pseudonym CA tells an investigator which
of its cars held the pseudonyms (HashedId8s) a case's vehicles heard, and nothing else.

The officer signs a ``ResolutionRequest`` (case id, the HashedId8s, when) with the case's
officer key. The CA checks it against the chain, never against the request: the case is
authorised by a court and not expired, its authority and court still active members
(``gateway.case_access.get_readable_case``, the rule the gateways apply); the key that
signed is the case's officer key; the authorised scope names ``v2x_peer`` (the
HashedId8s can only have come from the peer fields of the case's own vehicles' logs).
It then answers only the HashedId8s it issued, from its issuance record
(``PseudonymDirectory``): never the whole directory, never another CA's pseudonyms.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from carchain.core.case_records import DAY_MS
from carchain.crypto.signing import SigningKey, verify_signature
from carchain.errors import InvalidBody, InvalidSignature, Unauthorized
from carchain.gateway.case_access import get_readable_case
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sim.pseudonyms import PseudonymDirectory

RESOLUTION_DOMAIN = b"carchain/pseudonym-resolution/v1"
HASHED_ID8_SIZE = 8
MAX_RESOLVE = 1024
MAX_REQUEST_AGE_MS = DAY_MS
PEER_CATEGORY = "v2x_peer"


class ResolutionRequest(msgspec.Struct, array_like=True, frozen=True):
    """What the officer asks a CA: the case, the HashedId8s (sorted, unique), when."""

    case_id: int
    hashed_id8s: list[bytes]
    time_ms: int


def compute_request_bytes(request: ResolutionRequest) -> bytes:
    """Return the domain-separated bytes the officer signs."""
    return RESOLUTION_DOMAIN + msgspec.msgpack.encode(request)


def sign_request(request: ResolutionRequest, officer_key: SigningKey) -> bytes:
    """Return the officer's signature over ``request``."""
    return officer_key.sign(compute_request_bytes(request))


def validate_request_shape(request: ResolutionRequest, now_ms: int) -> None:
    """Raise ``InvalidBody`` unless the HashedId8s are 1..MAX_RESOLVE sorted unique 8-byte
    values and the request is recent (not a replay of an old one)."""
    ids = request.hashed_id8s
    if not 1 <= len(ids) <= MAX_RESOLVE or any(len(i) != HASHED_ID8_SIZE for i in ids):
        raise InvalidBody("a resolution names 1 to 1024 HashedId8s of 8 bytes", length=len(ids))
    if ids != sorted(set(ids)):
        raise InvalidBody("the HashedId8s must be sorted and unique")
    if not now_ms - MAX_REQUEST_AGE_MS <= request.time_ms <= now_ms + MAX_REQUEST_AGE_MS:
        raise InvalidBody("the resolution request is not of today", value=str(request.time_ms))


@dataclass
class PseudonymResolver:
    """An OEM's pseudonym CA answering lawful resolution requests (its own issuances)."""

    oem: str
    directory: PseudonymDirectory
    client: Client

    def resolve(
        self, request: ResolutionRequest, signature: bytes, now_ms: int
    ) -> dict[bytes, str]:
        """Return ``HashedId8 -> vehicle id`` for the requested HashedId8s this CA issued.

        Raises ``InvalidBody`` for a malformed request, ``CaseNotAuthorized`` /
        ``CaseExpired`` for a case not authorised or expired, ``Unauthorized`` if the
        signer is not the case's officer or the case's scope does not name v2x_peer.
        """
        validate_request_shape(request, now_ms)
        case, scope = get_readable_case(ChainView(self.client), request.case_id, now_ms)
        try:
            verify_signature(case.officer_key, compute_request_bytes(request), signature)
        except InvalidSignature as exc:
            raise Unauthorized("the request is not signed by the case's officer") from exc
        if PEER_CATEGORY not in scope.categories:
            raise Unauthorized("the case's scope does not name v2x_peer", status=case.state.value)
        found = ((i, self.directory.resolve(self.oem, i)) for i in request.hashed_id8s)
        return {i: vid for i, vid in found if vid is not None}
