"""AES-256 as a pseudorandom function on 128-bit counters.

``F_k(i) = AES-256_k(u128be(i))``: the block cipher keyed with a uniform key is a
PRF on its block (the construction of CTR mode, evaluated at chosen counters), so
many outputs cost one cipher call. Used where a KDF call per value would dominate
(the salts of every Merkle leaf of a segment).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_SIZE = 16
MAX_COUNTER = 2**128


def compute_prf_blocks(key: bytes, counters: Sequence[int]) -> list[bytes]:
    """Return ``AES-256_key(u128be(c))`` for each counter, in order."""
    if len(key) != 32:
        raise ValueError("the PRF key is 32 bytes")
    if any(not 0 <= c < MAX_COUNTER for c in counters):
        raise ValueError("PRF counters are 128-bit unsigned integers")
    # Independent blocks under one key: ECB over distinct counters is exactly the PRF.
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    out = encryptor.update(b"".join(c.to_bytes(BLOCK_SIZE, "big") for c in counters))
    return [out[i : i + BLOCK_SIZE] for i in range(0, len(out), BLOCK_SIZE)]
