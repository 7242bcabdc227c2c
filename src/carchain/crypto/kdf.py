"""Key derivation: HKDF-SHA256 with purpose-labelled ``info``.

Every derived key names its purpose and its scope in ``info``, so a key for one
vehicle, epoch and batch can never equal a key for another.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from carchain.crypto.prf import compute_prf_blocks

PSEUDONYM_KEY_LABEL = b"carchain/pseudonym-key/v1"
CATEGORY_KEY_LABEL = b"carchain/category-key/v1"
SEGMENT_KEY_LABEL = b"carchain/segment-key/v1"
LEAF_SALT_LABEL = b"carchain/leaf-salt/v2"
LEAF_SALT_SIZE = 16


def _info(label: bytes, *parts: bytes) -> bytes:
    out = bytearray(label)
    for p in parts:
        out += len(p).to_bytes(2, "big") + p
    return bytes(out)


def compute_hkdf(secret: bytes, info: bytes, length: int = 32) -> bytes:
    """Return ``length`` bytes of HKDF-SHA256 output (no salt: ``secret`` is uniform)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


def compute_category_key(epoch_key: bytes, vehicle_id: str, epoch: int, category: str) -> bytes:
    """Return the key of one vehicle x epoch x data category (what an envelope seals)."""
    info = _info(
        CATEGORY_KEY_LABEL, vehicle_id.encode(), epoch.to_bytes(8, "big"), category.encode()
    )
    return compute_hkdf(epoch_key, info)


def compute_segment_key(
    category_key: bytes, vehicle_id: str, epoch: int, seq: int, category: str
) -> bytes:
    """Return the AES-256 key of one batch's segment of one category (what a release holds)."""
    info = _info(
        SEGMENT_KEY_LABEL,
        vehicle_id.encode(),
        epoch.to_bytes(8, "big"),
        seq.to_bytes(8, "big"),
        category.encode(),
    )
    return compute_hkdf(category_key, info)


def compute_leaf_salt_key(segment_key: bytes) -> bytes:
    """Return the key of one segment's leaf salts (HKDF from the segment key)."""
    return compute_hkdf(segment_key, _info(LEAF_SALT_LABEL))


def compute_leaf_salts(segment_key: bytes, record_indices: Sequence[int]) -> list[bytes]:
    """Return the 16-byte salts of the Merkle leaves of records ``record_indices`` in one
    segment: ``salt_i = AES-256(salt_key, u128be(i))``, AES as a pseudorandom function.

    Only a holder of the segment key can compute them, so a leaf hash cannot be used
    to test guesses of a low-entropy projection. One AES call covers a whole segment
    (a KDF call per leaf cost more than the rest of sealing a batch together).
    """
    return compute_prf_blocks(compute_leaf_salt_key(segment_key), record_indices)


def compute_leaf_salt(segment_key: bytes, record_index: int) -> bytes:
    """Return the salt of record ``record_index``'s leaf (see ``compute_leaf_salts``)."""
    return compute_leaf_salts(segment_key, [record_index])[0]


def compute_pseudonym_key(epoch_key: bytes, vehicle_id: str, epoch: int) -> bytes:
    """Return the key a vehicle uses to pseudonymise identifiers during one epoch."""
    return compute_hkdf(
        epoch_key, _info(PSEUDONYM_KEY_LABEL, vehicle_id.encode(), epoch.to_bytes(8, "big"))
    )
