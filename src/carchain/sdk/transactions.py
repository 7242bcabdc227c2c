"""Building and signing transactions."""

from __future__ import annotations

import msgspec

from carchain.core.registry import TX_TYPES
from carchain.core.transactions import TX_VERSION, Envelope, compute_signing_bytes, encode
from carchain.core.vehicles import compute_rotation_signing_bytes, compute_transfer_signing_bytes
from carchain.crypto.signing import SigningKey

_BODY_TYPES = {t.body: t.name for t in TX_TYPES.values()}


def compute_tx_type(body: msgspec.Struct) -> str:
    """Return the wire type name for a body struct."""
    try:
        return _BODY_TYPES[type(body)]
    except KeyError:
        raise TypeError(f"{type(body).__name__} is not a transaction body") from None


def build_tx(chain_id: str, key: SigningKey, nonce: int, body: msgspec.Struct) -> bytes:
    """Return the signed, encoded transaction carrying ``body``."""
    tx_type = compute_tx_type(body)
    raw_body = encode(body)
    sig = key.sign(
        compute_signing_bytes(TX_VERSION, chain_id, key.public_key, nonce, tx_type, raw_body)
    )
    return encode(Envelope(TX_VERSION, chain_id, key.public_key, nonce, tx_type, raw_body, sig))


def sign_transfer_consent(
    chain_id: str, owner: SigningKey, vehicle_id: str, new_owner: bytes, transfer_seq: int
) -> bytes:
    """Return the current owner's signature consenting to hand the vehicle to ``new_owner``."""
    return owner.sign(compute_transfer_signing_bytes(chain_id, vehicle_id, new_owner, transfer_seq))


def sign_rotation_consent(
    chain_id: str,
    owner: SigningKey,
    vehicle_id: str,
    new_public_key: bytes,
    key_version: int,
    transfer_seq: int,
) -> bytes:
    """Return the current owner's signature consenting to rotate the vehicle to a new key.

    ``key_version`` is the version the new key will get (the vehicle's current
    one plus one) and ``transfer_seq`` the vehicle's current transfer count.
    """
    return owner.sign(
        compute_rotation_signing_bytes(
            chain_id, vehicle_id, new_public_key, key_version, transfer_seq
        )
    )
