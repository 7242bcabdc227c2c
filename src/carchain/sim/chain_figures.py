"""The chain's figures for everyone's view, counted from the blocks themselves.

Blocks, transactions by type, bytes on chain (the transactions' bytes and the node's
database on disk) against bytes off chain (the batches the gateways took and their
stores on disk), and the anchors: per gateway per block at most and on average (one,
whatever the fleet size, is the design), and per OEM.
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from carchain.errors import InvalidProof
from carchain.sdk.client import Client
from carchain.sim.story_world import StoryWorld

ANCHOR = "anchor.submit"


@dataclass(frozen=True, slots=True)
class ChainFigures:
    """What the chain holds and what stayed off it."""

    height: int
    txs: int
    txs_by_type: dict[str, int]
    tx_bytes: int  # sum of every block's transaction bytes
    node_db_bytes: int  # the node's data directory on disk
    upload_bytes: int  # the sealed batches the gateways took (off chain)
    gateway_store_bytes: int  # the gateways' stores on disk (off chain)
    anchor_blocks: int  # blocks with at least one anchor
    max_anchors_per_gateway_block: int
    mean_anchors_per_gateway_block: float
    anchors_per_oem: dict[str, int]


def compute_dir_bytes(path: Path) -> int:
    """Return the bytes of the regular files under ``path`` (0 if it is missing); symlinks
    are neither counted nor followed. One ``stat`` per file (``os.scandir`` knows the
    entry types), where ``Path.rglob`` with ``is_file``/``is_symlink`` made three."""
    total = 0
    pending = [str(path)]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total


def decode_envelope(tx: str) -> tuple[bytes, str, int]:
    """Return (signer, type, size) of a block's base64 transaction; ``InvalidProof`` if
    the node's answer is not an envelope."""
    try:
        raw = base64.b64decode(tx, validate=True)
        env = msgspec.msgpack.decode(raw)
        signer, kind = env[2], env[4]
    except (ValueError, TypeError, IndexError, KeyError) as exc:  # binascii, msgspec errors
        raise InvalidProof(f"the node's block holds a malformed transaction: {exc}") from exc
    if not isinstance(signer, bytes) or not isinstance(kind, str):
        raise InvalidProof("the node's block holds a malformed transaction envelope")
    return signer, kind, len(raw)


def iter_blocks(client: Client, height: int) -> Iterator[dict[str, Any]]:
    """Yield every committed block from 1 to ``height``, read a page at a time
    (``GET /blocks/raw``); ``InvalidProof`` if the node leaves a height out."""
    expected = 1
    while expected <= height:
        page = client.raw_blocks(expected)
        blocks = page.get("blocks")
        if not isinstance(blocks, list) or not blocks:
            raise InvalidProof("the node's block page is empty", height=expected)
        for block in blocks:
            if not isinstance(block, dict) or block.get("height") != expected:
                raise InvalidProof("the node's block page leaves a height out", height=expected)
            if expected <= height:
                yield block
            expected += 1


def compute_chain_figures(sw: StoryWorld) -> ChainFigures:
    """Count the figures over every committed block of the story's chain."""
    client: Client = sw.client
    height = int(client.status()["height"])
    names = {key.public_key: member for member, key in sw.consortium.keys.items()}
    by_type: Counter[str] = Counter()
    per_oem: Counter[str] = Counter()
    per_block: list[int] = []  # anchors of one gateway in one block, each such pair
    tx_bytes = anchor_blocks = 0
    for block in iter_blocks(client, height):
        signers: Counter[bytes] = Counter()
        for tx in block["txs"]:
            signer, kind, size = decode_envelope(str(tx))
            by_type[kind] += 1
            tx_bytes += size
            if kind == ANCHOR:
                signers[signer] += 1
        anchor_blocks += bool(signers)
        for signer, n in signers.items():
            per_oem[names.get(signer, signer.hex()[:16])] += n
            per_block.append(n)
    stores = [sw.root / "data-plane" / f"gateway-{oem}" for oem in sw.plane.gateways]
    return ChainFigures(
        height, sum(by_type.values()), dict(sorted(by_type.items())), tx_bytes,
        compute_dir_bytes(sw.root / "node"), sw.plane.stats.upload_bytes,
        sum(compute_dir_bytes(p) for p in stores),
        anchor_blocks,
        max(per_block, default=0), sum(per_block) / len(per_block) if per_block else 0.0,
        dict(sorted(per_oem.items())),
    )  # fmt: skip
