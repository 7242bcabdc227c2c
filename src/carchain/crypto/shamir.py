"""Shamir's k-of-n secret sharing of 32-byte keys, over pycryptodome's implementation.

``Crypto.Protocol.SecretSharing.Shamir`` shares 16-byte secrets in GF(2^128). A
category key is 32 bytes, so it is split as two 16-byte halves, each with its
own random polynomial of degree k-1, evaluated at the SAME indices: share ``i``
is ``half_1(i) || half_2(i)`` (32 bytes). Any k shares give back both halves;
fewer give a polynomial with a free constant term per half, so every 32-byte
secret is equally consistent with them: k-1 shares say nothing about the key.
There is no field arithmetic here: all of it is pycryptodome's.

Combining fewer than k shares does not fail: it yields a wrong secret. Callers
check the result (``data.custody``'s key check) rather than trust it.
"""

from __future__ import annotations

from collections.abc import Sequence

from Crypto.Protocol.SecretSharing import Shamir

from carchain.errors import InvalidSecretShares

SECRET_SIZE = 32
SHARE_SIZE = 32
HALF_SIZE = 16
MIN_THRESHOLD = 2  # a threshold of 1 would hand every holder the secret itself
MAX_SHARES = 255  # indices are 1..255


def split_secret(secret: bytes, k: int, n: int) -> list[tuple[int, bytes]]:
    """Return ``n`` shares ``(index, 32 bytes)`` of a 32-byte ``secret``, indices 1..n,
    any ``k`` of which give it back; raise ``InvalidSecretShares`` on bad parameters."""
    if not isinstance(secret, bytes) or len(secret) != SECRET_SIZE:
        raise InvalidSecretShares("the secret to share must be 32 bytes")
    if type(k) is not int or type(n) is not int or not MIN_THRESHOLD <= k <= n <= MAX_SHARES:
        raise InvalidSecretShares("need 2 <= k <= n <= 255 shares", threshold=k, count=n)
    low = Shamir.split(k, n, secret[:HALF_SIZE])
    high = Shamir.split(k, n, secret[HALF_SIZE:])
    return [(i, a + b) for (i, a), (_, b) in zip(low, high, strict=True)]


def validate_shares(shares: Sequence[tuple[int, bytes]]) -> None:
    """Raise ``InvalidSecretShares`` unless ``shares`` are at least 2, each an index in
    1..255 (each once) with 32 bytes of share."""
    if len(shares) < MIN_THRESHOLD or len(shares) > MAX_SHARES:
        raise InvalidSecretShares("need at least 2 shares to combine", count=len(shares))
    seen: set[int] = set()
    for share in shares:
        if not isinstance(share, tuple) or len(share) != 2:
            raise InvalidSecretShares("a share is a pair (index, bytes)")
        index, value = share
        if type(index) is not int or not 1 <= index <= MAX_SHARES:
            raise InvalidSecretShares("a share index is 1..255")
        if index in seen:
            raise InvalidSecretShares("a share index appears twice", index=index)
        if not isinstance(value, bytes) or len(value) != SHARE_SIZE:
            raise InvalidSecretShares("a share is 32 bytes", index=index)
        seen.add(index)


def combine_shares(shares: Sequence[tuple[int, bytes]]) -> bytes:
    """Return the 32-byte secret interpolated from ``shares`` (right only with at least k
    genuine shares of one split); raise ``InvalidSecretShares`` if they are malformed."""
    validate_shares(shares)
    low = Shamir.combine([(i, s[:HALF_SIZE]) for i, s in shares])
    high = Shamir.combine([(i, s[HALF_SIZE:]) for i, s in shares])
    return low + high
