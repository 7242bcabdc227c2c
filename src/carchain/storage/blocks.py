"""Blocks of the solo engine: header, hash and transaction root."""

from __future__ import annotations

import hashlib

import msgspec

from carchain.core.types import BlockContext, TxResult
from carchain.crypto.hashing import compute_tagged_hash
from carchain.crypto.merkle import compute_merkle_root

HEADER_TAG = "carchain/block-header/v1"


class BlockHeader(msgspec.Struct, array_like=True, frozen=True):
    """A solo block's header. ``app_hash`` is the state after executing this block."""

    chain_id: str
    height: int
    time_ms: int
    prev_hash: bytes
    tx_root: bytes
    results_hash: bytes
    app_hash: bytes
    proposer: bytes


class Block(msgspec.Struct, frozen=True):
    """A committed block: header, transactions and their results."""

    header: BlockHeader
    txs: list[bytes]
    results: list[TxResult]


_enc = msgspec.msgpack.Encoder()


def compute_block_hash(header: BlockHeader) -> bytes:
    """Return the block hash: a tagged hash of the encoded header."""
    return compute_tagged_hash(HEADER_TAG, _enc.encode(header))


def compute_tx_root(txs: list[bytes]) -> bytes:
    """Return the RFC 6962 root over the transactions' hashes (as CometBFT's DataHash)."""
    return compute_merkle_root([hashlib.sha256(tx).digest() for tx in txs])


def compute_results_hash(results: list[TxResult]) -> bytes:
    """Return the RFC 6962 root over the encoded (code, error code) of each result."""
    return compute_merkle_root([_enc.encode((r.code, r.error_code)) for r in results])


def build_header(
    ctx: BlockContext,
    prev: BlockHeader | None,
    txs: list[bytes],
    results: list[TxResult],
    app_hash: bytes,
) -> BlockHeader:
    """Return the header of the block ``ctx`` makes of ``txs`` after ``prev``."""
    return BlockHeader(
        chain_id=ctx.chain_id,
        height=ctx.height,
        time_ms=ctx.time_ms,
        prev_hash=compute_block_hash(prev) if prev else b"",
        tx_root=compute_tx_root(txs),
        results_hash=compute_results_hash(results),
        app_hash=app_hash,
        proposer=ctx.proposer,
    )
