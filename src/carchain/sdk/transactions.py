"""Building and signing transactions."""

from __future__ import annotations

import msgspec

from carchain.core import erasure, holds
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


# --- erasure and legal holds (issue 9 item 7) -----------------------------------------


def build_erasure_request(
    vehicle_id: str, categories: list[str], data_from_ms: int, data_until_ms: int
) -> erasure.RequestErasure:
    """Return the owner's ``erasure.request`` body (categories sorted and deduplicated)."""
    return erasure.RequestErasure(vehicle_id, sorted(set(categories)), data_from_ms, data_until_ms)


def build_erasure_complete(
    vehicle_id: str, erasure_seq: int, destroyed: list[bytes], tombstone_hash: bytes
) -> erasure.CompleteErasure:
    """Return the OEM custody service's ``erasure.complete`` body (key refs as given)."""
    return erasure.CompleteErasure(vehicle_id, erasure_seq, list(destroyed), tombstone_hash)


def build_hold_place(
    vehicle_id: str, categories: list[str], data_from_ms: int, data_until_ms: int, case_ref: bytes
) -> holds.PlaceHold:
    """Return a court's ``legal_hold.place`` body; ``case_ref`` is the case's 32-byte hash
    (made off chain: no case text goes on chain)."""
    cats = sorted(set(categories))
    return holds.PlaceHold(vehicle_id, cats, data_from_ms, data_until_ms, case_ref)


def build_hold_lift(vehicle_id: str, hold_seq: int) -> holds.LiftHold:
    """Return the placing court's ``legal_hold.lift`` body."""
    return holds.LiftHold(vehicle_id, hold_seq)
