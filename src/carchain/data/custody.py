"""Epoch key custody: each vehicle's per-epoch key, sealed to its keepers.

A vehicle draws a fresh 32-byte key per epoch (one UTC day). Every batch key of
that epoch derives from it (HKDF), so releasing one epoch key unlocks exactly
one vehicle x one epoch and nothing else. The key leaves the car only inside an
``EpochKeyEnvelope``: HPKE-sealed to the owner's account key and to the OEM's
custodian key, each box bound (HPKE ``info``) to vehicle, epoch and role.

The envelope lives off chain in the blob store. Its hash, the ``key_ref``, is in
every batch header of the epoch, and so is committed on chain through the
gateway's anchor, at O(1) chain cost per gateway per block. Later releases
(consent, lawful access) re-seal the epoch key, or one batch key, to a
requester; the custodian box is what the OEM opens to do that.
"""

from __future__ import annotations

import msgspec

from carchain.crypto.hashing import compute_sha256
from carchain.crypto.sealing import open_sealed_box, seal_to
from carchain.crypto.signing import SigningKey
from carchain.errors import DecryptionFailed, InvalidBody

ENVELOPE_VERSION = 1
EPOCH_KEY_SIZE = 32
MAX_ENVELOPE_BYTES = 4096
OWNER = "owner"
CUSTODIAN = "custodian"
_INFO_LABEL = b"carchain/epoch-key/v1"


class EpochKeyEnvelope(msgspec.Struct, array_like=True, frozen=True):
    """A vehicle's epoch key sealed to its owner and to its OEM's custodian."""

    version: int
    vehicle_id: str
    epoch: int
    owner: bytes
    owner_box: bytes
    custodian: bytes
    custodian_box: bytes


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(EpochKeyEnvelope)


def compute_seal_info(vehicle_id: str, epoch: int, role: str) -> bytes:
    """Return the HPKE ``info`` that binds a sealed epoch key to vehicle, epoch and role."""
    vid = vehicle_id.encode()
    return (
        _INFO_LABEL + len(vid).to_bytes(2, "big") + vid + epoch.to_bytes(8, "big") + role.encode()
    )


def compute_key_ref(envelope: bytes) -> bytes:
    """Return the reference to an encoded envelope: its SHA-256 (its blob address)."""
    return compute_sha256(envelope)


def seal_epoch_key(
    epoch_key: bytes, vehicle_id: str, epoch: int, owner: bytes, custodian: bytes
) -> bytes:
    """Return the encoded envelope sealing ``epoch_key`` to ``owner`` and ``custodian``."""
    if len(epoch_key) != EPOCH_KEY_SIZE:
        raise ValueError("an epoch key is 32 bytes")
    env = EpochKeyEnvelope(
        ENVELOPE_VERSION,
        vehicle_id,
        epoch,
        owner,
        seal_to(owner, epoch_key, compute_seal_info(vehicle_id, epoch, OWNER)),
        custodian,
        seal_to(custodian, epoch_key, compute_seal_info(vehicle_id, epoch, CUSTODIAN)),
    )
    return _encoder.encode(env)


def decode_envelope(raw: bytes) -> EpochKeyEnvelope:
    """Decode an envelope; raise ``InvalidBody`` if it is malformed or oversized."""
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise InvalidBody("key envelope too large", size=len(raw))
    try:
        env = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidBody(f"not a key envelope: {exc}") from exc
    if env.version != ENVELOPE_VERSION or _encoder.encode(env) != raw:
        raise InvalidBody("key envelope is not a canonical v1 envelope")
    return env


def open_epoch_key(envelope: bytes, key: SigningKey) -> bytes:
    """Return the epoch key for its owner or custodian; raise ``DecryptionFailed`` otherwise."""
    env = decode_envelope(envelope)
    if key.public_key == env.owner:
        box, role = env.owner_box, OWNER
    elif key.public_key == env.custodian:
        box, role = env.custodian_box, CUSTODIAN
    else:
        raise DecryptionFailed("cannot decrypt")
    epoch_key = open_sealed_box(key, box, compute_seal_info(env.vehicle_id, env.epoch, role))
    if len(epoch_key) != EPOCH_KEY_SIZE:
        raise DecryptionFailed("cannot decrypt")
    return epoch_key
