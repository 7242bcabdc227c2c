"""Category key custody: each vehicle x epoch x category key, sealed to its keepers.

A vehicle draws a fresh 32-byte epoch key per epoch (one UTC day) and never lets
it out. From it derive (HKDF) one category key per data category, and from that
one segment key per batch. A category key leaves the car only inside a
``CategoryKeyEnvelope``: HPKE-sealed to the owner's account key always, and to
the OEM's custodian key only for NON-sensitive categories. Location, audio/video
and biometrics keys are never sealed to the custodian: the OEM alone cannot read
them. For the categories the escrow committee in force for the epoch escrows
(every sensitive one among them), the ``escrow`` list holds the key's k-of-n
Shamir shares, one per committee seat, each sealed to that seat's escrow key
(``data.escrow_shares``); ``committee_version`` names the committee (0: none).
``key_check`` (SHA-256 over a domain tag, the scope and the key) lets whoever
combines shares, or opens a box, check that it holds this envelope's key; for a
random 256-bit key it reveals nothing.

An envelope lives off chain in the gateway's ``keys`` blob namespace. Its hash,
the ``key_ref``, is in every segment header of that vehicle x epoch x category, so
it is committed on chain through the anchor. Destroying the envelope blob (and
every key derived from it) is the crypto-shredding of that category key.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence

import msgspec

from carchain.core.case_records import MAX_CUSTODIANS, MIN_THRESHOLD
from carchain.crypto.hashing import compute_sha256
from carchain.crypto.sealing import ENC_SIZE, open_sealed_box, seal_to
from carchain.crypto.signing import SigningKey
from carchain.data.batches import SignedBatchHeader
from carchain.data.categories import CATEGORY_NAMES, is_sensitive
from carchain.errors import DecryptionFailed, InvalidKeyEnvelope, NotFound

ENVELOPE_VERSION = 3
EPOCH_KEY_SIZE = 32
CATEGORY_KEY_SIZE = 32
MAX_ENVELOPE_BYTES = 4096
OWNER = "owner"
CUSTODIAN = "custodian"
_BOX_SIZE = ENC_SIZE + CATEGORY_KEY_SIZE + 16
SHARE_BOX_SIZE = _BOX_SIZE  # a 32-byte share sealed like a key
KEY_CHECK_SIZE = 32
_INFO_LABEL = b"carchain/category-key-box/v1"
_KEY_CHECK_LABEL = b"carchain/category-key-check/v1"
KEY_CHECK = "key_check"


class EscrowShare(msgspec.Struct, array_like=True, frozen=True):
    """One escrow committee seat's Shamir share of a category key: ``holder`` is the
    seat's escrow key, ``index`` its share index (1..n), ``box`` the share sealed to it."""

    holder: bytes
    index: int
    box: bytes


class CategoryKeyEnvelope(msgspec.Struct, array_like=True, frozen=True):
    """One vehicle x epoch x category key, sealed to the owner (and custodian if allowed),
    shared among the escrow committee ``committee_version`` if it escrows the category."""

    version: int
    vehicle_id: str
    epoch: int
    category: str
    owner: bytes
    owner_box: bytes
    custodian: bytes
    custodian_box: bytes
    escrow: list[EscrowShare]
    committee_version: int
    key_check: bytes


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


def compute_key_check(category_key: bytes, vehicle_id: str, epoch: int, category: str) -> bytes:
    """Return the envelope's ``key_check``: SHA-256 over a domain tag, the key's scope (as
    ``compute_seal_info`` binds it) and the key. Checks a combined or opened key."""
    info = compute_seal_info(vehicle_id, epoch, category, KEY_CHECK)
    return compute_sha256(_KEY_CHECK_LABEL + info + category_key)


def is_key_of(env: CategoryKeyEnvelope, category_key: bytes) -> bool:
    """Return whether ``category_key`` is the key ``env`` seals (its key check matches)."""
    check = compute_key_check(category_key, env.vehicle_id, env.epoch, env.category)
    return hmac.compare_digest(check, env.key_check)


def seal_category_key(
    category_key: bytes,
    vehicle_id: str,
    epoch: int,
    category: str,
    owner: bytes,
    custodian: bytes,
    *,
    committee_version: int = 0,
    escrow: Sequence[EscrowShare] = (),
) -> bytes:
    """Return the encoded envelope of one category key: sealed to ``owner``, and to
    ``custodian`` unless the category is sensitive; ``escrow`` are its shares sealed to
    the seats of committee ``committee_version`` (``escrow_shares.seal_shares``), or none."""
    if len(category_key) != CATEGORY_KEY_SIZE:
        raise ValueError("a category key is 32 bytes")
    owner_box = seal_to(owner, category_key, compute_seal_info(vehicle_id, epoch, category, OWNER))
    cust, cust_box = b"", b""
    if not is_sensitive(category):
        cust = custodian
        info = compute_seal_info(vehicle_id, epoch, category, CUSTODIAN)
        cust_box = seal_to(custodian, category_key, info)
    env = CategoryKeyEnvelope(
        ENVELOPE_VERSION,
        vehicle_id,
        epoch,
        category,
        owner,
        owner_box,
        cust,
        cust_box,
        list(escrow),
        committee_version,
        compute_key_check(category_key, vehicle_id, epoch, category),
    )
    validate_envelope_shape(env)
    return _encoder.encode(env)


def validate_escrow_shape(env: CategoryKeyEnvelope) -> None:
    """Raise ``InvalidKeyEnvelope`` unless the escrow list is empty with committee version 0,
    or, with a version, 2..16 shares with indices 1..n in order, 32-byte holders and boxes
    of a sealed 32-byte share. (Whether they are the committee's: the gateway checks.)"""
    fields = {"category": env.category[:40]}
    if not 0 <= env.committee_version < 2**63:
        raise InvalidKeyEnvelope("envelope names an impossible committee version", **fields)
    if env.committee_version == 0:
        if env.escrow:
            raise InvalidKeyEnvelope("escrow shares without a committee version", **fields)
        return
    if not MIN_THRESHOLD <= len(env.escrow) <= MAX_CUSTODIANS:
        raise InvalidKeyEnvelope("escrow share count out of range", count=len(env.escrow), **fields)
    for n, share in enumerate(env.escrow, start=1):
        if share.index != n:
            raise InvalidKeyEnvelope("escrow share indices are not 1..n in order", **fields)
        if len(share.holder) != 32 or len(share.box) != SHARE_BOX_SIZE:
            raise InvalidKeyEnvelope("escrow share is malformed", **fields)


def validate_envelope_shape(env: CategoryKeyEnvelope) -> None:
    """Raise ``InvalidKeyEnvelope`` unless the envelope is well formed for its category:
    an owner box always, a custodian box if and only if the category is not sensitive,
    a 32-byte key check, and a well-formed escrow list (``validate_escrow_shape``)."""
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
    if len(env.key_check) != KEY_CHECK_SIZE:
        raise InvalidKeyEnvelope("envelope has no 32-byte key check", **fields)
    validate_escrow_shape(env)


def decode_key_envelope(raw: bytes) -> CategoryKeyEnvelope:
    """Decode and shape-check an envelope; raise ``InvalidKeyEnvelope`` if it is not one."""
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise InvalidKeyEnvelope("key envelope too large", size=len(raw))
    try:
        env = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidKeyEnvelope(f"not a key envelope: {exc}") from exc
    if env.version != ENVELOPE_VERSION or _encoder.encode(env) != raw:
        raise InvalidKeyEnvelope("key envelope is not a canonical v3 envelope")
    validate_envelope_shape(env)
    return env


def open_category_key(envelope: bytes, key: SigningKey) -> bytes:
    """Return the category key for its owner or (non-sensitive only) its custodian;
    raise ``DecryptionFailed`` for anyone else, or if the key fails the key check."""
    env = decode_key_envelope(envelope)
    if key.public_key == env.owner:
        box, role = env.owner_box, OWNER
    elif env.custodian and key.public_key == env.custodian:
        box, role = env.custodian_box, CUSTODIAN
    else:
        raise DecryptionFailed("cannot decrypt")
    info = compute_seal_info(env.vehicle_id, env.epoch, env.category, role)
    category_key = open_sealed_box(key, box, info)
    if len(category_key) != CATEGORY_KEY_SIZE or not is_key_of(env, category_key):
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
