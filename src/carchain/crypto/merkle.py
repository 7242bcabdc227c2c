"""RFC 6962 Merkle trees, hashed exactly as CometBFT's ``crypto/merkle``.

Leaves hash as ``SHA-256(0x00 || leaf)``, inner nodes as
``SHA-256(0x01 || left || right)``; a tree of ``n`` leaves splits at the largest
power of two strictly below ``n``; the empty tree hashes to ``SHA-256("")``.
A proof is CometBFT's ``Proof``: total, index, leaf hash and the aunts from the
leaf upward, so CometBFT's own verifier accepts ours and the other way round.
A key/value leaf is CometBFT's ``simple:v`` encoding (``compute_kv_leaf``):
``uvarint(len key) || key || uvarint(32) || sha256(value)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from carchain.errors import InvalidProof

LEAF_PREFIX = b"\x00"
INNER_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
MAX_AUNTS = 100


def encode_uvarint(n: int) -> bytes:
    """Return ``n`` as an unsigned LEB128 varint (Go's ``binary.PutUvarint``)."""
    if 0 <= n < 0x80:  # every state key's length: one byte
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def compute_kv_leaf(key: bytes, value: bytes) -> bytes:
    """Return the ``simple:v`` leaf bytes for a key and its value."""
    vhash = hashlib.sha256(value).digest()
    return encode_uvarint(len(key)) + key + b"\x20" + vhash


def compute_kv_leaf_hash(key: bytes, value: bytes) -> bytes:
    """Return the RFC 6962 leaf hash of a key/value pair."""
    return hashlib.sha256(b"\x00" + compute_kv_leaf(key, value)).digest()


def compute_leaf_hash(leaf: bytes) -> bytes:
    """Return the RFC 6962 hash of one leaf."""
    return hashlib.sha256(LEAF_PREFIX + leaf).digest()


def compute_inner_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 hash of an inner node."""
    return hashlib.sha256(INNER_PREFIX + left + right).digest()


def compute_split_point(n: int) -> int:
    """Return the largest power of two strictly less than ``n`` (``n >= 2``)."""
    if n < 2:
        raise ValueError("split point needs at least two leaves")
    return 1 << ((n - 1).bit_length() - 1)


def compute_root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Return the root of a tree whose leaf hashes are given, in order."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = compute_split_point(n)
    return compute_inner_hash(
        compute_root_from_leaf_hashes(hashes[:k]), compute_root_from_leaf_hashes(hashes[k:])
    )


def compute_merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Return the RFC 6962 root over raw leaves."""
    return compute_root_from_leaf_hashes([compute_leaf_hash(x) for x in leaves])


@dataclass(frozen=True, slots=True)
class MerkleProof:
    """CometBFT's ``crypto/merkle.Proof``: an inclusion proof for one leaf."""

    total: int
    index: int
    leaf_hash: bytes
    aunts: tuple[bytes, ...]

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form (hex strings)."""
        return {
            "total": self.total,
            "index": self.index,
            "leaf_hash": self.leaf_hash.hex(),
            "aunts": [a.hex() for a in self.aunts],
        }

    @classmethod
    def from_dict(cls, data: object) -> MerkleProof:
        """Parse the JSON form; raise ``InvalidProof`` if it is malformed."""
        try:
            if not isinstance(data, dict):
                raise TypeError("proof must be an object")
            aunts = data["aunts"]
            if not isinstance(aunts, list):
                raise TypeError("aunts must be a list")
            return cls(
                total=int(data["total"]),
                index=int(data["index"]),
                leaf_hash=bytes.fromhex(str(data["leaf_hash"])),
                aunts=tuple(bytes.fromhex(str(a)) for a in aunts),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise InvalidProof(f"malformed merkle proof: {exc}") from exc

    def compute_root(self) -> bytes:
        """Return the root this proof implies; raise ``InvalidProof`` if inconsistent."""
        if self.total <= 0 or not 0 <= self.index < self.total:
            raise InvalidProof("proof index out of range", index=self.index, total=self.total)
        if len(self.aunts) > MAX_AUNTS:
            raise InvalidProof("too many aunts")
        if len(self.leaf_hash) != 32 or any(len(a) != 32 for a in self.aunts):
            raise InvalidProof("proof hashes must be 32 bytes")
        root = _root_from_aunts(self.index, self.total, self.leaf_hash, list(self.aunts))
        if root is None:
            raise InvalidProof("aunt count does not match the tree shape")
        return root

    def verify(self, root: bytes, leaf: bytes) -> None:
        """Raise ``InvalidProof`` unless ``leaf`` is at ``index`` in the tree with ``root``."""
        if compute_leaf_hash(leaf) != self.leaf_hash:
            raise InvalidProof("leaf does not match the proof's leaf hash")
        if self.compute_root() != root:
            raise InvalidProof("proof does not lead to the expected root")


def _root_from_aunts(index: int, total: int, leaf_hash: bytes, aunts: list[bytes]) -> bytes | None:
    if total == 1:
        return leaf_hash if not aunts else None
    if not aunts:
        return None
    k = compute_split_point(total)
    if index < k:
        left = _root_from_aunts(index, k, leaf_hash, aunts[:-1])
        return None if left is None else compute_inner_hash(left, aunts[-1])
    right = _root_from_aunts(index - k, total - k, leaf_hash, aunts[:-1])
    return None if right is None else compute_inner_hash(aunts[-1], right)


def compute_proofs(leaves: Sequence[bytes]) -> tuple[bytes, list[MerkleProof]]:
    """Return the root and one inclusion proof per leaf (for small in-memory trees)."""
    hashes = [compute_leaf_hash(x) for x in leaves]
    n = len(hashes)
    aunts: list[list[bytes]] = [[] for _ in range(n)]

    def build(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return hashes[lo]
        k = compute_split_point(hi - lo)
        left = build(lo, lo + k)
        right = build(lo + k, hi)
        for i in range(lo, lo + k):
            aunts[i].append(right)
        for i in range(lo + k, hi):
            aunts[i].append(left)
        return compute_inner_hash(left, right)

    root = build(0, n) if n else EMPTY_ROOT
    return root, [MerkleProof(n, i, hashes[i], tuple(aunts[i])) for i in range(n)]
