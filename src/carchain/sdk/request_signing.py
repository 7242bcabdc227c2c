"""Signed read requests to a gateway: Ed25519 over method, path, query, time and nonce.

The signer names itself by its public key; the gateway checks the signature,
that the time is within its clock-skew bound, that the nonce was not seen in
that window, and then who the key is (the OEM's member key in the member
registry, its custodian, or the vehicle's owner at the data's time).
"""

from __future__ import annotations

import os

import msgspec

from carchain.crypto.signing import SigningKey

REQUEST_DOMAIN = b"carchain/gateway-request/v1\x00"
NONCE_BYTES = 16
HEADER_KEY = "x-carchain-key"
HEADER_TIME = "x-carchain-time"
HEADER_NONCE = "x-carchain-nonce"
HEADER_SIGNATURE = "x-carchain-signature"

_encoder = msgspec.msgpack.Encoder()


def compute_request_signing_bytes(
    method: str, path: str, query: str, time_ms: int, nonce: bytes
) -> bytes:
    """Return the exact bytes a reader signs for one request (query as sent, raw)."""
    return REQUEST_DOMAIN + _encoder.encode((method.upper(), path, query, time_ms, nonce))


def sign_request_at(
    key: SigningKey, method: str, path: str, query: str, now_ms: int
) -> dict[str, str]:
    """Return the headers that authenticate one request signed at ``now_ms``."""
    nonce = os.urandom(NONCE_BYTES)
    sig = key.sign(compute_request_signing_bytes(method, path, query, now_ms, nonce))
    return {
        HEADER_KEY: key.public_key.hex(),
        HEADER_TIME: str(now_ms),
        HEADER_NONCE: nonce.hex(),
        HEADER_SIGNATURE: sig.hex(),
    }
