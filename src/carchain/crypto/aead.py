"""AES-256-GCM encryption of byte strings, with one opaque failure.

Nonces are 12 random bytes that travel next to the ciphertext (for batches: in
the signed header), so the ciphertext itself is exactly AES-GCM's output and is
never copied to prepend anything. Callers also derive a fresh key per batch, so
a nonce never repeats under one key even if a vehicle reuses a sequence number.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from carchain.errors import DecryptionFailed

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16


def generate_nonce() -> bytes:
    """Return a fresh random 12-byte nonce."""
    return os.urandom(NONCE_SIZE)


def encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Return ``AES-256-GCM(key, nonce, plaintext, aad)`` (ciphertext || 16-byte tag)."""
    if len(key) != KEY_SIZE or len(nonce) != NONCE_SIZE:
        raise ValueError("AES-256-GCM needs a 32-byte key and a 12-byte nonce")
    return AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """Return the plaintext; raise ``DecryptionFailed`` for anything off."""
    if len(key) != KEY_SIZE or len(nonce) != NONCE_SIZE or len(ciphertext) < TAG_SIZE:
        raise DecryptionFailed("cannot decrypt")
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag as exc:
        raise DecryptionFailed("cannot decrypt") from exc
