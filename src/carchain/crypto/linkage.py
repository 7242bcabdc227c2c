"""SCMS linkage values: the pure functions (IEEE 1609.2-2022 D.7, CAMP's crypto test vectors).

Each linkage authority (LA) holds, per device, a chain of 128-bit linkage seeds,
one per time period i: ``ls(i) = SHA-256(la_id || ls(i-1) || 0^112)[:16]``
(la_id is the LA's 16-bit id). From the seed of period i it derives the
pre-linkage value of certificate j of that period with AES-128 in Davies-Meyer
mode: ``plv(i, j) = (AES_ls(i)(la_id || j || 0^80) XOR (la_id || j || 0^80))[:9]``
(j as 32 bits). A certificate carries ``lv(i, j) = plv1(i, j) XOR plv2(i, j)``.

The hash chain runs forward only, so a seed released for period i reveals the
values of periods i, i+1, ... and nothing before i. These functions are pure
(the chain checks released seeds with them); the LA's seed store lives in
``carchain.v2x.linkage``.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SEED_BYTES = 16
LINKAGE_VALUE_BYTES = 9
MAX_LA_ID = 0xFFFF
MAX_J = 0xFFFFFFFF
_SEED_PAD = bytes(14)  # 0^112
_PLV_PAD = bytes(10)  # 0^80


def _validate_seed(seed: bytes) -> None:
    if len(seed) != SEED_BYTES:
        raise ValueError("a linkage seed is 16 bytes")


def _validate_la_id(la_id: int) -> None:
    if not 0 <= la_id <= MAX_LA_ID:
        raise ValueError("a linkage authority id is 16 bits")


def compute_next_seed(la_id: int, seed: bytes) -> bytes:
    """Return ls(i) from ls(i-1): ``SHA-256(la_id || ls(i-1) || 0^112)[:16]``."""
    _validate_la_id(la_id)
    _validate_seed(seed)
    return hashlib.sha256(la_id.to_bytes(2, "big") + seed + _SEED_PAD).digest()[:SEED_BYTES]


def compute_seed_at(la_id: int, seed: bytes, steps: int) -> bytes:
    """Return the seed ``steps`` periods after ``seed`` (``steps`` >= 0)."""
    if steps < 0:
        raise ValueError("linkage seeds run forward only")
    for _ in range(steps):
        seed = compute_next_seed(la_id, seed)
    _validate_seed(seed)
    return seed


def compute_plv_input(la_id: int, j: int) -> bytes:
    """Return the AES input block ``la_id (16 bits) || j (32 bits) || 0^80``."""
    _validate_la_id(la_id)
    if not 0 <= j <= MAX_J:
        raise ValueError("a certificate index j is 32 bits")
    return la_id.to_bytes(2, "big") + j.to_bytes(4, "big") + _PLV_PAD


def compute_plv_block(la_id: int, seed: bytes, j: int) -> bytes:
    """Return the full 16-byte Davies-Meyer output ``AES_seed(x) XOR x`` for x = plv input."""
    _validate_seed(seed)
    block = compute_plv_input(la_id, j)
    encryptor = Cipher(algorithms.AES128(seed), modes.ECB()).encryptor()
    out = encryptor.update(block) + encryptor.finalize()
    return bytes(a ^ b for a, b in zip(out, block, strict=True))


def compute_plv(la_id: int, seed: bytes, j: int) -> bytes:
    """Return the 9-byte pre-linkage value plv(i, j) for the seed ls(i)."""
    return compute_plv_block(la_id, seed, j)[:LINKAGE_VALUE_BYTES]


def compute_linkage_value(plv1: bytes, plv2: bytes) -> bytes:
    """Return ``lv = plv1 XOR plv2`` (both 9 bytes)."""
    if len(plv1) != LINKAGE_VALUE_BYTES or len(plv2) != LINKAGE_VALUE_BYTES:
        raise ValueError("a pre-linkage value is 9 bytes")
    return bytes(a ^ b for a, b in zip(plv1, plv2, strict=True))


def compute_linkage_values(
    la_id1: int, seed1: bytes, la_id2: int, seed2: bytes, j_count: int
) -> list[bytes]:
    """Return lv(i, 0..j_count-1) for the two LAs' seeds of period i (one AES context each)."""
    _validate_seed(seed1)
    _validate_seed(seed2)
    enc1 = Cipher(algorithms.AES128(seed1), modes.ECB()).encryptor()
    enc2 = Cipher(algorithms.AES128(seed2), modes.ECB()).encryptor()
    out: list[bytes] = []
    for j in range(j_count):
        x1, x2 = compute_plv_input(la_id1, j), compute_plv_input(la_id2, j)
        y1, y2 = enc1.update(x1), enc2.update(x2)
        out.append(bytes(a ^ b ^ c ^ d for a, b, c, d in zip(y1, x1, y2, x2, strict=False))[:9])
    return out
