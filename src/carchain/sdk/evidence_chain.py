"""The chain part of an evidence bundle: the header chain and transactions' inclusion.

``chain/block.json`` is the block whose app hash every state proof of the bundle
checks against (the ``block`` section of a record proof, ``carchain.sdk.bundle_block``):
the caller's trust root vouches for it. ``chain/headers.json`` holds the block sections
of every height from the first transaction's up to the one before it, so each header
is tied to the trusted block by hash (solo: ``prev_hash``; CometBFT:
``last_block_id.hash``), and on a network each carries its commit, which more than 2/3
of its validators must have signed. ``chain/txs.json`` holds the transactions, each
with the RFC 6962 proof of its hash (SHA-256 of its bytes) under its block's
``tx_root`` (solo) or ``data_hash`` (CometBFT): the same tree on both engines.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from carchain.core.transactions import (
    Envelope,
    compute_envelope_signing_bytes,
    decode_envelope,
)
from carchain.crypto.merkle import MerkleProof, compute_proofs
from carchain.crypto.signing import verify_signature
from carchain.errors import CarchainError, InvalidProof
from carchain.sdk.bundle_block import (
    SOLO,
    BlockTrust,
    VerifiedBlock,
    compute_block_section_hash,
    parse_solo_header,
    validate_consensus,
    validate_stated_hash,
    verify_bundle_block,
)
from carchain.sdk.client import Client
from carchain.sdk.evidence_manifest import fail
from carchain.sdk.record_proofs import build_block_section

LINK_BLOCK = "block->trust root"
LINK_TX = "tx->block"
MAX_HEADERS = 1_000_000


@dataclass(frozen=True, slots=True)
class ChainBlock:
    """A block of the bundle whose hash was recomputed: what its transactions prove to."""

    height: int
    hash: bytes
    prev_hash: bytes
    tx_root: bytes
    time_ms: int


@dataclass(frozen=True, slots=True)
class ProvenTx:
    """A transaction proven in block ``height`` at ``index``, its signature checked."""

    height: int
    index: int
    hash: bytes
    envelope: Envelope
    time_ms: int


# --- building ----------------------------------------------------------------------------


def compute_tx_entries(
    block: dict[str, Any], is_wanted: Callable[[Envelope, int], bool]
) -> list[dict[str, Any]]:
    """Return the bundle entries of the API block's transactions that ``is_wanted``
    (envelope, height) keeps, successful ones only, each with its proof under the
    block's tx root."""
    txs = [base64.b64decode(t) for t in block["txs"]]
    _, proofs = compute_proofs([hashlib.sha256(t).digest() for t in txs])
    out = []
    for i, raw in enumerate(txs):
        if int(block["results"][i]["code"]) != 0:
            continue
        try:
            env = decode_envelope(raw)
        except CarchainError:
            continue
        h = int(block["height"])
        if is_wanted(env, h):
            entry = {"height": h, "index": i, "hash": hashlib.sha256(raw).hexdigest()}
            out.append(entry | {"tx": raw.hex(), "proof": proofs[i].to_dict()})
    return out


def build_header_chain(
    client: Client, first: int, top: int, rpc_url: str | None
) -> list[dict[str, Any]]:
    """Return the block sections of heights ``first .. top - 1`` (the chain to the top)."""
    if top - first > MAX_HEADERS:
        raise CarchainError("the case spans too many blocks for one bundle")
    return [build_block_section(client, h, rpc_url) for h in range(first, top)]


def build_case_txs(
    client: Client, first: int, last: int, is_wanted: Callable[[Envelope, int], bool]
) -> list[dict[str, Any]]:
    """Return the entries of every successful transaction ``is_wanted`` keeps in blocks
    ``first .. last``, in chain order."""
    if last - first > MAX_HEADERS:
        raise CarchainError("the case spans too many blocks for one bundle")
    out: list[dict[str, Any]] = []
    for h in range(first, last + 1):
        out += compute_tx_entries(client.block(h), is_wanted)
    return out


# --- verifying ---------------------------------------------------------------------------


def parse_chain_block(section: Any) -> ChainBlock:
    """Return a block section's height, recomputed hash, parent hash and tx root; on a
    network also check that more than 2/3 of its own validators signed it."""
    block, digest = compute_block_section_hash(section)
    validate_stated_hash(section, digest)
    if block.engine == SOLO:
        h = parse_solo_header(section["header"])
        return ChainBlock(h.height, digest, h.prev_hash, h.tx_root, h.time_ms)
    validate_consensus(block)
    lb = block.light_block
    if lb is None:  # a CometBFT section always parses to a light block
        raise InvalidProof("block section has no light block")
    t = lb.header.time
    ms = t.seconds * 1000 + t.nanos // 1_000_000
    return ChainBlock(
        lb.header.height, digest, lb.header.last_block_id.hash, lb.header.data_hash, ms
    )


def verify_top_block(section: Any, trust: BlockTrust) -> tuple[VerifiedBlock, ChainBlock]:
    """Link ``block->trust root``: the bundle's block against the caller's trust root."""
    try:
        top = verify_bundle_block(section, trust)
        return top, parse_chain_block(section)
    except InvalidProof as exc:
        raise fail(LINK_BLOCK, f"block: {exc.message}") from exc


def verify_header_chain(sections: Any, top: ChainBlock, engine: str) -> dict[int, ChainBlock]:
    """Link ``block->trust root``: every header hashes into the next one up to the trusted
    block. Return the blocks by height, the top included."""
    if not isinstance(sections, list) or len(sections) > MAX_HEADERS:
        raise fail(LINK_BLOCK, "headers must be a list")
    chain = {top.height: top}
    expected = top
    for section in reversed(sections):
        if not isinstance(section, dict) or section.get("engine") != engine:
            raise fail(LINK_BLOCK, "a header is of another engine than the block")
        try:
            block = parse_chain_block(section)
        except InvalidProof as exc:
            raise fail(LINK_BLOCK, f"header: {exc.message}") from exc
        if block.height != expected.height - 1 or block.hash != expected.prev_hash:
            raise fail(
                LINK_BLOCK,
                f"header {block.height} does not chain to block {expected.height}",
                height=block.height,
            )
        chain[block.height] = expected = block
    return chain


def verify_tx_entry(entry: Any, chain: dict[int, ChainBlock], chain_id: str) -> ProvenTx:
    """Link ``tx->block``: a transaction's hash is at its index in its block's tx root,
    and it is a well-formed transaction of this chain signed by its signer."""
    if not isinstance(entry, dict):
        raise fail(LINK_TX, "a transaction entry must be an object")
    try:
        height, index = entry["height"], entry["index"]
        if type(height) is not int or type(index) is not int:
            # Not int(): a JSON 1e400 is an infinite float (OverflowError), 4.5 would be 4.
            raise TypeError("a transaction's height and index must be integers")
        raw = bytes.fromhex(str(entry["tx"]))
        proof = MerkleProof.from_dict(entry["proof"])
    except (KeyError, TypeError, ValueError, InvalidProof) as exc:
        raise fail(LINK_TX, f"malformed transaction entry: {exc}") from exc
    block = chain.get(height)
    if block is None:
        raise fail(LINK_TX, f"transaction of block {height}, not in the bundle's chain")
    digest = hashlib.sha256(raw).digest()
    if str(entry.get("hash", "")).lower() != digest.hex() or proof.index != index:
        raise fail(LINK_TX, "transaction's hash or index differs from its proof", height=height)
    try:
        proof.verify(block.tx_root, digest)
        env = decode_envelope(raw)
        verify_signature(env.signer, compute_envelope_signing_bytes(env), env.signature)
    except CarchainError as exc:
        raise fail(LINK_TX, f"transaction {index} of block {height}: {exc.message}") from exc
    if env.chain_id != chain_id:
        raise fail(LINK_TX, "transaction is for another chain", height=height)
    return ProvenTx(height, index, digest, env, block.time_ms)


def verify_tx_entries(entries: Any, chain: dict[int, ChainBlock], chain_id: str) -> list[ProvenTx]:
    """Return every transaction of the bundle proven (link ``tx->block``), in chain order,
    each once."""
    if not isinstance(entries, list):
        raise fail(LINK_TX, "txs must be a list")
    out = [verify_tx_entry(e, chain, chain_id) for e in entries]
    order = [(t.height, t.index) for t in out]
    if order != sorted(set(order)):
        raise fail(LINK_TX, "transactions are not in chain order, each once")
    # A proof's tree size is not in the header, so one leaf also "proves" at other
    # indices (the leaf at 4 of 5 is at 1 of a 2-leaf tree with the same root): the
    # same transaction could stand in twice, for one left out. Its hash is its identity,
    # and a bundle holds successful transactions only, each of them once on a chain.
    if len({t.hash for t in out}) != len(out):
        raise fail(LINK_TX, "a transaction appears twice (under two indices)")
    return out
