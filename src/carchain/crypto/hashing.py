"""SHA-256, domain-separated by purpose."""

from __future__ import annotations

import hashlib


def compute_sha256(data: bytes) -> bytes:
    """Return the plain SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()


def compute_tagged_hash(tag: str, data: bytes) -> bytes:
    """Return SHA-256 over a length-prefixed purpose tag followed by ``data``.

    Two different purposes can never produce colliding inputs, because the tag
    is length-prefixed and no tag is a prefix of another's encoding.
    """
    t = tag.encode()
    return hashlib.sha256(len(t).to_bytes(2, "big") + t + data).digest()
