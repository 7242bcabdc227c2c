"""Signed read requests to a gateway: Ed25519 over audience, method, path, query, time, nonce.

The audience is the OEM member id of the gateway the request is meant for, so a
request signed for one OEM's gateway does not verify at another OEM's. (Two
gateways of the same OEM share the audience and each keep their own nonces.)
The signer names itself by its public key; the gateway checks the signature,
that the time is within its clock-skew bound, that the nonce was not seen in
that window, and then who the key is (the OEM's member key in the member
registry, its custodian, or the vehicle's owner at the data's time).
"""

from __future__ import annotations

import os

import msgspec

from carchain.crypto.signing import SigningKey

REQUEST_DOMAIN = b"carchain/gateway-request/v2\x00"
NONCE_BYTES = 16
HEADER_KEY = "x-carchain-key"
HEADER_TIME = "x-carchain-time"
HEADER_NONCE = "x-carchain-nonce"
HEADER_SIGNATURE = "x-carchain-signature"

_encoder = msgspec.msgpack.Encoder()


def compute_request_signing_bytes(
    audience: str, method: str, path: str, query: str, time_ms: int, nonce: bytes
) -> bytes:
    """Return the exact bytes a reader signs for one request to the gateway of OEM
    ``audience`` (query as sent, raw)."""
    fields = (audience, method.upper(), path, query, time_ms, nonce)
    return REQUEST_DOMAIN + _encoder.encode(fields)


def sign_request_at(
    key: SigningKey, audience: str, method: str, path: str, query: str, now_ms: int
) -> dict[str, str]:
    """Return the headers that authenticate one request to OEM ``audience``'s gateway,
    signed at ``now_ms``."""
    nonce = os.urandom(NONCE_BYTES)
    sig = key.sign(compute_request_signing_bytes(audience, method, path, query, now_ms, nonce))
    return {
        HEADER_KEY: key.public_key.hex(),
        HEADER_TIME: str(now_ms),
        HEADER_NONCE: nonce.hex(),
        HEADER_SIGNATURE: sig.hex(),
    }
