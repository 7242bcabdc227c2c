"""Segments: one category's projections of a batch, sealed under their own key.

A segment of category ``c`` is AES-256-GCM, under the batch's segment key of ``c``,
of the MessagePack list of the projection encodings, in record order. Its Merkle
root is RFC 6962 over the leaves ``salt_i || projection_i`` where
``salt_i = compute_leaf_salt(segment_key, i)``: a leaf hash reveals nothing that
lets anyone without the segment key test guesses of the projection. A holder of
one segment key opens that segment and nothing else of the batch.
"""

from __future__ import annotations

import hashlib

import msgspec

from carchain.crypto import aead
from carchain.crypto.hashing import compute_sha256
from carchain.crypto.kdf import compute_leaf_salt, compute_leaf_salts
from carchain.crypto.merkle import EMPTY_ROOT
from carchain.data.projections import Projection, decode_projection, encode_projection
from carchain.errors import (
    CiphertextMismatch,
    InvalidBatch,
    TruncatedCiphertext,
)

SEGMENT_VERSION = 2


class SegmentHeader(msgspec.Struct, array_like=True, frozen=True):
    """What a batch header says about one category's segment."""

    category: str
    count: int
    records_root: bytes
    nonce: bytes
    offset: int
    ciphertext_size: int
    ciphertext_hash: bytes
    key_ref: bytes


_encoder = msgspec.msgpack.Encoder()
_list_decoder = msgspec.msgpack.Decoder(list[bytes])


def compute_records_root(leaves: list[bytes]) -> bytes:
    """Return the RFC 6962 root over raw leaves, bottom-up (same root as ``merkle``)."""
    sha = hashlib.sha256
    return compute_root_of_leaf_hashes([sha(b"\x00" + leaf).digest() for leaf in leaves])


def compute_salted_root(salts: list[bytes], encoded: list[bytes]) -> bytes:
    """Return the root over the leaves ``salt_i || encoded_i`` without building them: each
    leaf hash extends ``0x00 || salt`` with the encoding (no copy of a large projection)."""
    sha = hashlib.sha256
    hashes = []
    for salt, raw in zip(salts, encoded, strict=True):
        h = sha(b"\x00" + salt)
        h.update(raw)
        hashes.append(h.digest())
    return compute_root_of_leaf_hashes(hashes)


def compute_root_of_leaf_hashes(level: list[bytes]) -> bytes:
    """Return the RFC 6962 root over leaf hashes, bottom-up.

    Pairing level by level and promoting an odd last node gives exactly the
    split-at-the-largest-power-of-two tree, without recursion or slicing.
    """
    sha = hashlib.sha256
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def compute_segment_aad(vehicle_id: str, epoch: int, seq: int, category: str) -> bytes:
    """Return the associated data binding a segment's ciphertext to its batch and category."""
    return _encoder.encode((SEGMENT_VERSION, vehicle_id, epoch, seq, category))


def compute_salted_leaf(segment_key: bytes, projection: bytes, index: int) -> bytes:
    """Return the Merkle leaf of the projection of record ``index``: ``salt || projection``."""
    return compute_leaf_salt(segment_key, index) + projection


def compute_salted_leaves(
    segment_key: bytes, indices: list[int], encoded: list[bytes]
) -> list[bytes]:
    """Return the leaves ``salt_i || projection_i`` of encoded projections, in order."""
    salts = compute_leaf_salts(segment_key, indices)
    return [salt + raw for salt, raw in zip(salts, encoded, strict=True)]


def compute_segment_leaves(segment_key: bytes, projections: list[Projection]) -> list[bytes]:
    """Return the salted leaves of a segment's projections, in order."""
    encoded = [encode_projection(p) for p in projections]
    return compute_salted_leaves(segment_key, [p.index for p in projections], encoded)


def encrypt_segment(segment_key: bytes, aad: bytes, encoded: list[bytes]) -> tuple[bytes, bytes]:
    """Return ``(nonce, ciphertext)`` of a segment's encoded projection list."""
    nonce = aead.generate_nonce()
    return nonce, aead.encrypt(segment_key, nonce, _encoder.encode(encoded), aad)


def validate_segment_ciphertext(segment: SegmentHeader, ciphertext: bytes) -> None:
    """Raise ``TruncatedCiphertext`` or ``CiphertextMismatch`` unless it is the signed one."""
    if len(ciphertext) < segment.ciphertext_size:
        raise TruncatedCiphertext(
            "segment ciphertext shorter than the header says",
            size=len(ciphertext),
            expected=segment.ciphertext_size,
        )
    if len(ciphertext) != segment.ciphertext_size:
        raise CiphertextMismatch("segment ciphertext longer than the header says")
    if compute_sha256(ciphertext) != segment.ciphertext_hash:
        raise CiphertextMismatch("segment ciphertext does not match the header's hash")


def decrypt_segment(
    segment: SegmentHeader, segment_key: bytes, aad: bytes, ciphertext: bytes, record_count: int
) -> list[Projection]:
    """Return a segment's projections after checking them against its header.

    ``DecryptionFailed`` for a wrong key; ``InvalidBatch`` if the plaintext does not
    match the signed count and root, or indices are not increasing and in range.
    """
    validate_segment_ciphertext(segment, ciphertext)
    plaintext = aead.decrypt(segment_key, segment.nonce, ciphertext, aad)
    try:
        raws = _list_decoder.decode(plaintext)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidBatch("segment plaintext is not a projection list") from exc
    if len(raws) != segment.count:
        raise InvalidBatch("segment holds another number of projections than its header says")
    projections = [decode_projection(r, segment.category) for r in raws]
    indices = [p.index for p in projections]
    if indices != sorted(set(indices)) or (indices and indices[-1] >= record_count):
        raise InvalidBatch("segment projections are out of order or out of range")
    salts = compute_leaf_salts(segment_key, indices)
    # ``decode_projection`` checked each raw is the canonical encoding: hash it as is.
    if compute_salted_root(salts, raws) != (segment.records_root):
        raise InvalidBatch("segment projections do not match the header's root")
    return projections
