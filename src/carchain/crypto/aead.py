"""AES-256-GCM sealing of byte strings, with one opaque failure.

A sealed box is ``nonce (12 bytes) || ciphertext || tag (16 bytes)``. Nonces are
random: callers derive a fresh key per batch as well, so a nonce never repeats
under one key even if a vehicle reuses a batch sequence number.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from carchain.core.exceptions import DecryptionFailed

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = NONCE_SIZE + TAG_SIZE


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Return ``nonce || AES-256-GCM(key, nonce, plaintext, aad)`` with a random nonce."""
    if len(key) != KEY_SIZE:
        raise ValueError("AES-256-GCM needs a 32-byte key")
    nonce = os.urandom(NONCE_SIZE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, box: bytes, aad: bytes) -> bytes:
    """Return the plaintext of a sealed box; raise ``DecryptionFailed`` for anything off."""
    if len(key) != KEY_SIZE or len(box) < OVERHEAD:
        raise DecryptionFailed("cannot decrypt")
    try:
        return AESGCM(key).decrypt(box[:NONCE_SIZE], box[NONCE_SIZE:], aad)
    except InvalidTag as exc:
        raise DecryptionFailed("cannot decrypt") from exc
