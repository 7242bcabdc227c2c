"""Key derivation: HKDF-SHA256 with purpose-labelled ``info``.

Every derived key names its purpose and its scope in ``info``, so a key for one
vehicle, epoch and batch can never equal a key for another.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BATCH_KEY_LABEL = b"carchain/batch-key/v1"
PSEUDONYM_KEY_LABEL = b"carchain/pseudonym-key/v1"


def _info(label: bytes, *parts: bytes) -> bytes:
    out = bytearray(label)
    for p in parts:
        out += len(p).to_bytes(2, "big") + p
    return bytes(out)


def compute_hkdf(secret: bytes, info: bytes, length: int = 32) -> bytes:
    """Return ``length`` bytes of HKDF-SHA256 output (no salt: ``secret`` is uniform)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


def compute_batch_key(epoch_key: bytes, vehicle_id: str, epoch: int, seq: int) -> bytes:
    """Return the AES-256 key of one batch, derived from the vehicle's epoch key."""
    info = _info(
        BATCH_KEY_LABEL, vehicle_id.encode(), epoch.to_bytes(8, "big"), seq.to_bytes(8, "big")
    )
    return compute_hkdf(epoch_key, info)


def compute_pseudonym_key(epoch_key: bytes, vehicle_id: str, epoch: int) -> bytes:
    """Return the key a vehicle uses to pseudonymise identifiers during one epoch."""
    return compute_hkdf(
        epoch_key, _info(PSEUDONYM_KEY_LABEL, vehicle_id.encode(), epoch.to_bytes(8, "big"))
    )
