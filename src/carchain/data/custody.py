"""Category key custody: each vehicle x epoch x category key, sealed to its keepers.

A vehicle draws a fresh 32-byte epoch key per epoch (one UTC day) and never lets
it out. From it derive (HKDF) one category key per data category, and from that
one segment key per batch. A category key leaves the car only inside a
``CategoryKeyEnvelope``: HPKE-sealed to the owner's account key always, and to
the OEM's custodian key only for NON-sensitive categories. Location, audio/video
and biometrics keys are never sealed to the custodian: the OEM alone cannot read
them. The ``escrow`` list is reserved for the escrow committee's k-of-n shares
(the lawful-access issue); until then it is empty, and a non-empty one is refused.

An envelope lives off chain in the gateway's ``keys`` blob namespace. Its hash,
the ``key_ref``, is in every segment header of that vehicle x epoch x category, so
it is committed on chain through the anchor. Destroying the envelope blob (and
every key derived from it) is the crypto-shredding of that category key.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from carchain.crypto.hashing import compute_sha256
from carchain.crypto.sealing import ENC_SIZE, open_sealed_box, seal_to
from carchain.crypto.signing import SigningKey
from carchain.data.batches import SignedBatchHeader
from carchain.data.categories import CATEGORY_NAMES, is_sensitive
from carchain.errors import DecryptionFailed, InvalidKeyEnvelope, NotFound

ENVELOPE_VERSION = 2
EPOCH_KEY_SIZE = 32
CATEGORY_KEY_SIZE = 32
MAX_ENVELOPE_BYTES = 4096
OWNER = "owner"
CUSTODIAN = "custodian"
_BOX_SIZE = ENC_SIZE + CATEGORY_KEY_SIZE + 16
_INFO_LABEL = b"carchain/category-key-box/v1"


class EscrowShare(msgspec.Struct, array_like=True, frozen=True):
    """Reserved: one escrow committee member's sealed Shamir share of a category key."""

    holder: bytes
    index: int
    box: bytes


class CategoryKeyEnvelope(msgspec.Struct, array_like=True, frozen=True):
    """One vehicle x epoch x category key, sealed to the owner (and custodian if allowed)."""

    version: int
    vehicle_id: str
    epoch: int
    category: str
    owner: bytes
    owner_box: bytes
    custodian: bytes
    custodian_box: bytes
    escrow: list[EscrowShare]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(CategoryKeyEnvelope)


def compute_seal_info(vehicle_id: str, epoch: int, category: str, role: str) -> bytes:
    """Return the HPKE ``info`` binding a sealed key to vehicle, epoch, category and role."""
    out = bytearray(_INFO_LABEL)
    for part in (vehicle_id.encode(), epoch.to_bytes(8, "big"), category.encode(), role.encode()):
        out += len(part).to_bytes(2, "big") + part
    return bytes(out)


def compute_key_ref(envelope: bytes) -> bytes:
    """Return the reference to an encoded envelope: its SHA-256 (its blob address)."""
    return compute_sha256(envelope)


def seal_category_key(
    category_key: bytes,
    vehicle_id: str,
    epoch: int,
    category: str,
    owner: bytes,
    custodian: bytes,
) -> bytes:
    """Return the encoded envelope of one category key: sealed to ``owner``, and to
    ``custodian`` unless the category is sensitive."""
    if len(category_key) != CATEGORY_KEY_SIZE:
        raise ValueError("a category key is 32 bytes")
    owner_box = seal_to(owner, category_key, compute_seal_info(vehicle_id, epoch, category, OWNER))
    cust, cust_box = b"", b""
    if not is_sensitive(category):
        cust = custodian
        info = compute_seal_info(vehicle_id, epoch, category, CUSTODIAN)
        cust_box = seal_to(custodian, category_key, info)
    env = CategoryKeyEnvelope(
        ENVELOPE_VERSION, vehicle_id, epoch, category, owner, owner_box, cust, cust_box, []
    )
    return _encoder.encode(env)


def validate_envelope_shape(env: CategoryKeyEnvelope) -> None:
    """Raise ``InvalidKeyEnvelope`` unless the envelope is well formed for its category:
    an owner box always, a custodian box if and only if the category is not sensitive,
    and no escrow shares (reserved)."""
    fields = {"vehicle_id": env.vehicle_id[:64], "category": env.category[:40]}
    if env.category not in CATEGORY_NAMES or not 0 <= env.epoch < 2**40:
        raise InvalidKeyEnvelope("envelope names an unknown category or epoch", **fields)
    if len(env.owner) != 32 or len(env.owner_box) != _BOX_SIZE:
        raise InvalidKeyEnvelope("envelope does not seal its key to an owner", **fields)
    has_custodian = bool(env.custodian or env.custodian_box)
    if is_sensitive(env.category) and has_custodian:
        raise InvalidKeyEnvelope("a sensitive category key is sealed to the custodian", **fields)
    if not is_sensitive(env.category) and (
        len(env.custodian) != 32 or len(env.custodian_box) != _BOX_SIZE
    ):
        raise InvalidKeyEnvelope("envelope does not seal its key to the custodian", **fields)
    if env.escrow:
        raise InvalidKeyEnvelope("escrow shares are not supported yet", **fields)


def decode_key_envelope(raw: bytes) -> CategoryKeyEnvelope:
    """Decode and shape-check an envelope; raise ``InvalidKeyEnvelope`` if it is not one."""
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise InvalidKeyEnvelope("key envelope too large", size=len(raw))
    try:
        env = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidKeyEnvelope(f"not a key envelope: {exc}") from exc
    if env.version != ENVELOPE_VERSION or _encoder.encode(env) != raw:
        raise InvalidKeyEnvelope("key envelope is not a canonical v2 envelope")
    validate_envelope_shape(env)
    return env


def open_category_key(envelope: bytes, key: SigningKey) -> bytes:
    """Return the category key for its owner or (non-sensitive only) its custodian;
    raise ``DecryptionFailed`` for anyone else."""
    env = decode_key_envelope(envelope)
    if key.public_key == env.owner:
        box, role = env.owner_box, OWNER
    elif env.custodian and key.public_key == env.custodian:
        box, role = env.custodian_box, CUSTODIAN
    else:
        raise DecryptionFailed("cannot decrypt")
    info = compute_seal_info(env.vehicle_id, env.epoch, env.category, role)
    category_key = open_sealed_box(key, box, info)
    if len(category_key) != CATEGORY_KEY_SIZE:
        raise DecryptionFailed("cannot decrypt")
    return category_key


def open_batch_category_keys(
    signed: SignedBatchHeader, get_envelope: Callable[[bytes], bytes], key: SigningKey
) -> dict[str, bytes]:
    """Return every category key of a batch that ``key`` can open (owner: all of them).

    ``get_envelope`` fetches an envelope by key_ref (e.g. the gateway's ``/keys``).
    An envelope whose hash, vehicle, epoch or category is not the segment's raises
    ``InvalidKeyEnvelope``; one ``key`` cannot open, or that is gone (``NotFound``:
    shredded), is left out, and if it opens none at all, ``DecryptionFailed``.
    """
    h = signed.header
    out: dict[str, bytes] = {}
    for s in h.segments:
        try:
            raw = get_envelope(s.key_ref)
        except NotFound:
            continue
        validate_envelope_for(raw, s.key_ref, h.vehicle_id, h.epoch, s.category)
        try:
            out[s.category] = open_category_key(raw, key)
        except DecryptionFailed:
            continue
    if not out:
        raise DecryptionFailed("cannot decrypt")
    return out


def validate_envelope_for(
    raw: bytes, key_ref: bytes, vehicle_id: str, epoch: int, category: str
) -> CategoryKeyEnvelope:
    """Return the envelope if it is the one ``key_ref`` names, for this vehicle x epoch x
    category; raise ``InvalidKeyEnvelope`` otherwise."""
    if compute_key_ref(raw) != key_ref:
        raise InvalidKeyEnvelope("envelope does not match its key_ref", category=category[:40])
    env = decode_key_envelope(raw)
    if (env.vehicle_id, env.epoch, env.category) != (vehicle_id, epoch, category):
        raise InvalidKeyEnvelope(
            "envelope is for another vehicle, epoch or category", category=category[:40]
        )
    return env
