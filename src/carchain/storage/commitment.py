"""The state commitment: an append-friendly RFC 6962 tree per store.

Leaves stay in insertion order: an update rewrites one leaf, an insert appends
one, and only the complete (power-of-two aligned) subtrees above the changed
leaves are re-hashed, so a block costs O(changes * log n), never O(n). A node
at ``(level, idx)`` covers leaves ``[idx << level, (idx + 1) << level)`` and is
stored only once that range is complete. The root folds the "peaks" (the
complete subtrees that make up ``n`` in binary) right to left, which is exactly
RFC 6962's split at the largest power of two, so proofs are CometBFT proofs.

A leaf is CometBFT's ``simple:v`` encoding: ``uvarint(len key) || key ||
uvarint(32) || sha256(value)``; the app hash is the same construction over
``(store name, store root)`` pairs, giving the two-op proof a light client checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from carchain.crypto.merkle import EMPTY_ROOT, MerkleProof, compute_inner_hash

NodeGetter = Callable[[int, int], bytes]


def is_complete(level: int, idx: int, size: int) -> bool:
    """Return whether node ``(level, idx)`` covers only existing leaves."""
    return (idx + 1) << level <= size


def compute_peaks(size: int) -> list[tuple[int, int]]:
    """Return the ``(level, idx)`` of each peak, left to right."""
    peaks: list[tuple[int, int]] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            peaks.append((level, start >> level))
            start += 1 << level
    return peaks


def compute_root(size: int, get_node: NodeGetter) -> bytes:
    """Return the root of a tree of ``size`` leaves."""
    if size == 0:
        return EMPTY_ROOT
    peaks = [get_node(level, idx) for level, idx in compute_peaks(size)]
    acc = peaks[-1]
    for h in reversed(peaks[:-1]):
        acc = compute_inner_hash(h, acc)
    return acc


def compute_updated_nodes(
    size: int, dirty_leaves: dict[int, bytes], get_node: NodeGetter
) -> dict[tuple[int, int], bytes]:
    """Return every node that changes when ``dirty_leaves`` (index -> leaf hash) change.

    ``get_node`` serves unchanged nodes; the result includes the dirty leaves
    themselves at level 0.
    """
    changed: dict[tuple[int, int], bytes] = {(0, i): h for i, h in dirty_leaves.items()}
    frontier: Iterable[int] = dirty_leaves.keys()
    level = 0
    while True:
        parents = sorted({i >> 1 for i in frontier})
        level += 1
        parents = [p for p in parents if is_complete(level, p, size)]
        if not parents:
            return changed
        below = level - 1
        for p in parents:
            left = changed.get((below, 2 * p)) or get_node(below, 2 * p)
            right = changed.get((below, 2 * p + 1)) or get_node(below, 2 * p + 1)
            changed[(level, p)] = compute_inner_hash(left, right)
        frontier = parents


def compute_proof(size: int, index: int, get_node: NodeGetter) -> MerkleProof:
    """Return the CometBFT inclusion proof for leaf ``index``."""
    peaks = compute_peaks(size)
    aunts: list[bytes] = []
    start = 0
    for pos, (level, _idx) in enumerate(peaks):
        if start <= index < start + (1 << level):
            for lv in range(level):
                aunts.append(get_node(lv, (index >> lv) ^ 1))
            right = peaks[pos + 1 :]
            if right:
                hashes = [get_node(lv, ix) for lv, ix in right]
                acc = hashes[-1]
                for h in reversed(hashes[:-1]):
                    acc = compute_inner_hash(h, acc)
                aunts.append(acc)
            for lv, ix in reversed(peaks[:pos]):
                aunts.append(get_node(lv, ix))
            return MerkleProof(size, index, get_node(0, index), tuple(aunts))
        start += 1 << level
    raise IndexError("leaf index out of range")
