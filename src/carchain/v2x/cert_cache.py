"""The receiver's certificate cache: validated signers keyed by HashedId8, bounded (LRU).

A ``signer=digest`` message names its certificate only by HashedId8, so a receiver can
check it only once it has seen (and validated) that certificate. The cache holds only
certificates whose chain to a trusted CA verified, with their public key already loaded:
a cache hit skips the certificate decode and its signature check, never the per-message
checks (validity, PSID, CA still trusted, linkage revocation, the message signature).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from carchain.v2x.certificates import Certificate

DEFAULT_CAPACITY = 8_192  # pseudonyms in radio range change every few minutes


@dataclass(frozen=True, slots=True)
class CachedSigner:
    """A certificate whose chain verified, its loaded public key and its hash."""

    certificate: Certificate
    public_key: ec.EllipticCurvePublicKey
    certificate_hash: bytes  # Hash(canonical certificate): the signer half of every digest


class CertificateCache:
    """A bounded map HashedId8 -> ``CachedSigner``, evicting the least recently used."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("the cache holds at least one certificate")
        self._capacity = capacity
        self._entries: OrderedDict[bytes, CachedSigner] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, hashed_id8: bytes) -> CachedSigner | None:
        """Return the signer cached under ``hashed_id8``, or None."""
        entry = self._entries.get(hashed_id8)
        if entry is not None:
            self._entries.move_to_end(hashed_id8)
        return entry

    def put(self, signer: CachedSigner) -> None:
        """Cache a validated signer under its HashedId8, evicting the oldest when full."""
        self._entries[signer.certificate.hashed_id8] = signer
        self._entries.move_to_end(signer.certificate.hashed_id8)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def discard(self, hashed_id8: bytes) -> None:
        """Forget one certificate (e.g. its CA was revoked)."""
        self._entries.pop(hashed_id8, None)
