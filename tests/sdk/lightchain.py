"""A CometBFT-shaped chain built in memory: headers, signed commits and validator sets.

The encodings are the SDK's own (checked against CometBFT's protobuf on the
localnet in tests/network); here they let an attacker's world be built offline:
a node's own keys, another chain id, old genuine commits.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from carchain.crypto.signing import SigningKey
from carchain.sdk.light import (
    BLOCK_ID_FLAG_COMMIT,
    ED25519_TYPE,
    BlockId,
    Commit,
    CommitSig,
    Header,
    LightBlock,
    Timestamp,
    Validator,
    compute_header_hash,
    compute_validator_address,
    compute_validator_set_hash,
    compute_vote_sign_bytes,
)
from carchain.sdk.light_client import Provider, compute_sorted_validators

BLOCK_FLAG_ABSENT = 1


def make_keys(n: int, tag: str) -> list[SigningKey]:
    """Return ``n`` deterministic validator keys."""
    return [SigningKey.from_seed(hashlib.sha256(f"{tag}-{i}".encode()).digest()) for i in range(n)]


def make_set(keys: list[SigningKey], power: int = 10) -> list[Validator]:
    """Return the validator set of ``keys`` in CometBFT's order."""
    vals = [Validator(compute_validator_address(k.public_key), k.public_key, power) for k in keys]
    return compute_sorted_validators(vals)


@dataclass
class Chain:
    """A chain: one validator key set per height (``sets[h]``), signed blocks."""

    chain_id: str
    keys: dict[bytes, SigningKey]
    sets: dict[int, list[Validator]]
    start_s: int
    blocks: dict[int, LightBlock] = field(default_factory=dict)
    absent: dict[int, set[bytes]] = field(default_factory=dict)

    def provider(self) -> Provider:
        """Return a provider serving this chain's blocks."""
        return lambda h: self.blocks[h]


def make_chain(
    chain_id: str,
    sets: dict[int, list[SigningKey]],
    heights: int,
    start_s: int,
    absent: dict[int, set[int]] | None = None,
    app_hash: bytes = b"",
) -> Chain:
    """Build ``heights`` blocks; ``sets[h]`` is the key list from height ``h`` on."""
    keys: dict[bytes, SigningKey] = {}
    per_height: dict[int, list[Validator]] = {}
    current: list[SigningKey] = []
    for h in range(1, heights + 2):
        current = sets.get(h, current)
        for k in current:
            keys[k.public_key] = k
        per_height[h] = make_set(current)
    chain = Chain(chain_id, keys, per_height, start_s)
    last = BlockId(b"", 0, b"")
    for h in range(1, heights + 1):
        skip = {per_height[h][i].address for i in (absent or {}).get(h, set())}
        header = make_header(chain, h, last, app_hash)
        chain.blocks[h] = LightBlock(
            header, sign_commit(chain, header, per_height[h], skip), per_height[h]
        )
        last = chain.blocks[h].commit.block_id
    return chain


def make_header(chain: Chain, height: int, last: BlockId, app_hash: bytes = b"") -> Header:
    """Return the header at ``height`` linked to ``last``."""
    vals = chain.sets[height]
    return Header(
        version_block=11,
        version_app=1,
        chain_id=chain.chain_id,
        height=height,
        time=Timestamp(chain.start_s + height, 5000),
        last_block_id=last,
        last_commit_hash=hashlib.sha256(b"lc%d" % height).digest(),
        data_hash=hashlib.sha256(b"").digest(),
        validators_hash=compute_validator_set_hash(vals),
        next_validators_hash=compute_validator_set_hash(chain.sets[height + 1]),
        consensus_hash=hashlib.sha256(b"params").digest(),
        app_hash=app_hash or hashlib.sha256(b"app%d" % height).digest(),
        last_results_hash=hashlib.sha256(b"res%d" % height).digest(),
        evidence_hash=hashlib.sha256(b"").digest(),
        proposer_address=vals[0].address,
    )


def sign_commit(
    chain: Chain, header: Header, vals: list[Validator], skip: set[bytes] | None = None
) -> Commit:
    """Return a commit of ``header`` signed by ``vals`` (except ``skip``)."""
    block_id = BlockId(compute_header_hash(header), 1, hashlib.sha256(b"parts").digest())
    sigs = []
    for v in vals:
        ts = Timestamp(header.time.seconds + 1, 0)
        if v.address in (skip or set()):
            sigs.append(CommitSig(BLOCK_FLAG_ABSENT, b"", Timestamp(0, 0), b""))
            continue
        msg = compute_vote_sign_bytes(header.chain_id, header.height, 0, block_id, ts)
        sigs.append(CommitSig(BLOCK_ID_FLAG_COMMIT, v.address, ts, chain.keys[v.pub_key].sign(msg)))
    return Commit(header.height, 0, block_id, sigs)


# --- CometBFT RPC JSON (what /commit and /validators serve) -----------------------------


def format_time(ts: Timestamp) -> str:
    """Return RFC 3339 UTC with nanoseconds, as CometBFT writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts.seconds)) + f".{ts.nanos:09d}Z"


def block_id_json(b: BlockId) -> dict[str, Any]:
    """Return a block id as RPC JSON."""
    return {
        "hash": b.hash.hex().upper(),
        "parts": {"total": b.parts_total, "hash": b.parts_hash.hex().upper()},
    }


def header_json(h: Header) -> dict[str, Any]:
    """Return a header as RPC JSON."""
    return {
        "version": {"block": str(h.version_block), "app": str(h.version_app)},
        "chain_id": h.chain_id,
        "height": str(h.height),
        "time": format_time(h.time),
        "last_block_id": block_id_json(h.last_block_id),
        **{
            name: getattr(h, name).hex().upper()
            for name in (
                "last_commit_hash", "data_hash", "validators_hash", "next_validators_hash",
                "consensus_hash", "app_hash", "last_results_hash", "evidence_hash",
                "proposer_address",
            )
        },
    }  # fmt: skip


def light_block_json(lb: LightBlock) -> dict[str, Any]:
    """Return ``{"header", "commit", "validators"}`` as the RPC serves them."""
    sigs = [
        {
            "block_id_flag": s.flag,
            "validator_address": s.address.hex().upper(),
            "timestamp": format_time(s.timestamp) if s.signature else "0001-01-01T00:00:00Z",
            "signature": base64.b64encode(s.signature).decode() if s.signature else None,
        }
        for s in lb.commit.signatures
    ]
    commit = {
        "height": str(lb.commit.height),
        "round": lb.commit.round,
        "block_id": block_id_json(lb.commit.block_id),
        "signatures": sigs,
    }
    vals = [
        {
            "address": v.address.hex().upper(),
            "pub_key": {"type": ED25519_TYPE, "value": base64.b64encode(v.pub_key).decode()},
            "voting_power": str(v.power),
            "proposer_priority": "0",
        }
        for v in lb.validators
    ]
    return {"header": header_json(lb.header), "commit": commit, "validators": vals}
