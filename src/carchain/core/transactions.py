"""The signed transaction envelope and its canonical binary encoding.

Encoding is MessagePack through msgspec with array-like structs: fields are
positional, integers are minimal, so every value has exactly one encoding.
Decoding re-encodes and compares, so a non-canonical encoding of a valid
transaction is rejected rather than giving a second hash for the same content.
The signature covers a domain tag followed by the encoded unsigned fields.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypeGuard, TypeVar

import msgspec

from carchain.core.types import TxHash
from carchain.errors import (
    InvalidBody,
    MalformedTransaction,
    TransactionTooLarge,
    UnsupportedVersion,
    WrongChainId,
)

TX_VERSION = 1
MAX_TX_BYTES = 64 * 1024
MAX_TYPE_LENGTH = 64
MAX_CHAIN_ID_LENGTH = 50
SIGN_DOMAIN = b"carchain/tx/v1\x00"

_encoder = msgspec.msgpack.Encoder()


class Envelope(msgspec.Struct, array_like=True, frozen=True):
    """One signed transaction: who, which chain, which nonce, what, and the signature."""

    version: int
    chain_id: str
    signer: bytes
    nonce: int
    type: str
    body: bytes
    signature: bytes


class _Unsigned(msgspec.Struct, array_like=True, frozen=True):
    version: int
    chain_id: str
    signer: bytes
    nonce: int
    type: str
    body: bytes


_envelope_decoder = msgspec.msgpack.Decoder(Envelope)

B = TypeVar("B", bound=msgspec.Struct)


def is_valid_nonce(nonce: object) -> TypeGuard[int]:
    """Return whether ``nonce`` is a value a transaction can carry: an int in [1, 2**63)."""
    return isinstance(nonce, int) and not isinstance(nonce, bool) and 0 < nonce < 2**63


def encode(value: Any) -> bytes:
    """Return the canonical MessagePack encoding of a struct or value."""
    return _encoder.encode(value)


def compute_signing_bytes(
    version: int, chain_id: str, signer: bytes, nonce: int, tx_type: str, body: bytes
) -> bytes:
    """Return the exact bytes a transaction signature covers."""
    return SIGN_DOMAIN + _encoder.encode(_Unsigned(version, chain_id, signer, nonce, tx_type, body))


def compute_envelope_signing_bytes(env: Envelope) -> bytes:
    """Return the bytes the envelope's signature must cover."""
    return compute_signing_bytes(
        env.version, env.chain_id, env.signer, env.nonce, env.type, env.body
    )


def compute_tx_hash(raw: bytes) -> TxHash:
    """Return the transaction hash: SHA-256 of the encoded envelope, as CometBFT does."""
    return TxHash(hashlib.sha256(raw).digest())


def decode_envelope(raw: bytes) -> Envelope:
    """Decode and shape-check an envelope; raise a typed error for anything off."""
    if len(raw) > MAX_TX_BYTES:
        raise TransactionTooLarge("transaction too large", size=len(raw), limit=MAX_TX_BYTES)
    try:
        env = _envelope_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise MalformedTransaction(f"cannot decode envelope: {exc}") from exc
    if _encoder.encode(env) != raw:
        raise MalformedTransaction("envelope is not canonically encoded")
    if env.version != TX_VERSION:
        raise UnsupportedVersion("unsupported envelope version", version=env.version)
    if len(env.signer) != 32:
        raise MalformedTransaction("signer must be a 32-byte Ed25519 public key")
    if len(env.signature) != 64:
        raise MalformedTransaction("signature must be 64 bytes")
    if not is_valid_nonce(env.nonce):
        raise MalformedTransaction("nonce must be a positive 63-bit integer")
    if not env.type or len(env.type) > MAX_TYPE_LENGTH:
        raise MalformedTransaction("transaction type must be 1-64 characters")
    if not env.chain_id or len(env.chain_id) > MAX_CHAIN_ID_LENGTH:
        raise MalformedTransaction("chain id must be 1-50 characters")
    return env


def validate_chain_id(env: Envelope, chain_id: str) -> None:
    """Raise ``WrongChainId`` unless the envelope was signed for ``chain_id``."""
    if env.chain_id != chain_id:
        raise WrongChainId("transaction is for another chain", got=env.chain_id, want=chain_id)


def decode_body(raw: bytes, body_type: type[B]) -> B:
    """Decode a body struct canonically; raise ``InvalidBody`` if it does not fit."""
    try:
        body = msgspec.msgpack.decode(raw, type=body_type)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidBody(f"cannot decode {body_type.__name__}: {exc}") from exc
    if _encoder.encode(body) != raw:
        raise InvalidBody("body is not canonically encoded")
    return body
