"""Release packages: the segment keys of approved batches x categories, sealed to a requester.

The custodian (or the owner) opens the category keys it may open from their
envelopes, derives the segment key of each approved batch x category, and seals
the list of ``ReleaseItem`` (batch header hash, category, segment key) with HPKE to
the requester. The HPKE ``info`` binds the package to chain, vehicle, request
sequence and requester: it opens for no other request and no one else. A package
never holds a category or epoch key, so a requester can open exactly the released
segments of exactly the released batches. The on-chain release commitment is the
SHA-256 of the package bytes (``compute_release_commitment``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import msgspec

from carchain.crypto.hashing import compute_sha256
from carchain.crypto.sealing import open_sealed_box, seal_to
from carchain.crypto.signing import SigningKey
from carchain.data.batches import (
    compute_batch_segment_key,
    compute_header_hash,
    decode_signed_header,
    get_segment,
)
from carchain.data.categories import CATEGORY_NAMES
from carchain.data.custody import open_category_key, validate_envelope_for
from carchain.errors import DecryptionFailed, InvalidReleasePackage, NotFound

RELEASE_VERSION = 1
MAX_RELEASE_ITEMS = 1024 * len(CATEGORY_NAMES)
MAX_PACKAGE_BYTES = 64 + MAX_RELEASE_ITEMS * 96 + 1024
RELEASE_INFO_LABEL = b"carchain/release/v1"


class ReleaseItem(msgspec.Struct, array_like=True, frozen=True):
    """One released segment key: which batch, which category, the key."""

    header_hash: bytes
    category: str
    segment_key: bytes


class ReleasePackage(msgspec.Struct, array_like=True, frozen=True):
    """The sealed items and, in the clear, whom and what request they are for."""

    version: int
    chain_id: str
    vehicle_id: str
    request_seq: int
    requester: bytes
    box: bytes


_encoder = msgspec.msgpack.Encoder()
_package_decoder = msgspec.msgpack.Decoder(ReleasePackage)
_items_decoder = msgspec.msgpack.Decoder(list[ReleaseItem])


def compute_release_info(
    chain_id: str, vehicle_id: str, request_seq: int, requester: bytes
) -> bytes:
    """Return the HPKE ``info`` binding a package to chain, vehicle, request and requester."""
    return RELEASE_INFO_LABEL + _encoder.encode((chain_id, vehicle_id, request_seq, requester))


def compute_release_commitment(package: bytes) -> bytes:
    """Return the commitment an ``access.release`` posts: SHA-256 of the package bytes."""
    return compute_sha256(package)


def validate_release_items(items: Sequence[ReleaseItem]) -> None:
    """Raise ``InvalidReleasePackage`` unless every item is well formed and unique."""
    if len(items) > MAX_RELEASE_ITEMS:
        raise InvalidReleasePackage("too many release items", size=len(items))
    seen: set[tuple[bytes, str]] = set()
    for item in items:
        if len(item.header_hash) != 32 or len(item.segment_key) != 32:
            raise InvalidReleasePackage("release item hash and key must be 32 bytes")
        if item.category not in CATEGORY_NAMES:
            raise InvalidReleasePackage("release item names an unknown category")
        if (item.header_hash, item.category) in seen:
            raise InvalidReleasePackage("release item repeats a batch x category")
        seen.add((item.header_hash, item.category))


def seal_release(
    items: Sequence[ReleaseItem],
    requester_key: bytes,
    chain_id: str,
    vehicle_id: str,
    request_seq: int,
) -> bytes:
    """Return the encoded package sealing ``items`` to ``requester_key`` (Ed25519 public)."""
    validate_release_items(items)
    info = compute_release_info(chain_id, vehicle_id, request_seq, requester_key)
    box = seal_to(requester_key, _encoder.encode(list(items)), info)
    package = ReleasePackage(RELEASE_VERSION, chain_id, vehicle_id, request_seq, requester_key, box)
    return _encoder.encode(package)


def decode_release_package(raw: bytes) -> ReleasePackage:
    """Decode a package; raise ``InvalidReleasePackage`` if it is not a canonical one."""
    if len(raw) > MAX_PACKAGE_BYTES:
        raise InvalidReleasePackage("release package too large", size=len(raw))
    try:
        package = _package_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidReleasePackage(f"not a release package: {exc}") from exc
    if package.version != RELEASE_VERSION or _encoder.encode(package) != raw:
        raise InvalidReleasePackage("release package is not a canonical v1 package")
    if not 0 <= package.request_seq < 2**63 or len(package.requester) != 32:
        raise InvalidReleasePackage("release package names a bad request or requester")
    return package


def open_release(
    package: bytes,
    requester_signing_key: SigningKey,
    chain_id: str,
    vehicle_id: str,
    request_seq: int,
) -> list[ReleaseItem]:
    """Return the items of a package sealed to this requester for exactly this chain,
    vehicle and request; ``DecryptionFailed`` for any other, ``InvalidReleasePackage``
    if it is malformed."""
    p = decode_release_package(package)
    me = requester_signing_key.public_key
    if (p.chain_id, p.vehicle_id, p.request_seq, p.requester) != (
        chain_id,
        vehicle_id,
        request_seq,
        me,
    ):
        raise DecryptionFailed("cannot decrypt")
    info = compute_release_info(chain_id, vehicle_id, request_seq, me)
    plaintext = open_sealed_box(requester_signing_key, p.box, info)
    try:
        items = _items_decoder.decode(plaintext)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidReleasePackage("release package holds no item list") from exc
    validate_release_items(items)
    return items


def get_envelope_from(
    envelopes: Mapping[bytes, bytes] | Callable[[bytes], bytes], key_ref: bytes
) -> bytes:
    """Return the envelope ``key_ref`` names from a mapping or a getter (e.g. the gateway's
    ``keys`` blob store's ``get``); ``NotFound`` if it is gone (e.g. shredded)."""
    if callable(envelopes):
        return envelopes(key_ref)
    raw = envelopes.get(key_ref)
    if raw is None:
        raise NotFound("no such key envelope", digest=key_ref)
    return raw


def derive_release_items(
    envelopes: Mapping[bytes, bytes] | Callable[[bytes], bytes],
    custodian_key: SigningKey,
    batches: Sequence[bytes],
    categories: Iterable[str],
) -> list[ReleaseItem]:
    """Return the segment keys of every given batch x category the batch holds.

    ``envelopes`` maps key_ref to envelope (or is a getter such as ``BlobStore.get``);
    ``batches`` are encoded signed headers. Works for the custodian (non-sensitive
    categories) and the owner (all): a sensitive category's envelope has no custodian
    box, so the custodian gets ``DecryptionFailed``. A missing (shredded) envelope
    raises ``NotFound``; one that is not the segment's, ``InvalidKeyEnvelope``.
    """
    wanted = sorted(set(categories))
    items: list[ReleaseItem] = []
    for raw_header in batches:
        signed = decode_signed_header(raw_header)
        h = signed.header
        for cat in wanted:
            if cat not in h.categories:
                continue
            ref = get_segment(h, cat).key_ref
            raw = get_envelope_from(envelopes, ref)
            validate_envelope_for(raw, ref, h.vehicle_id, h.epoch, cat)
            category_key = open_category_key(raw, custodian_key)
            skey = compute_batch_segment_key(h, cat, category_key)
            items.append(ReleaseItem(compute_header_hash(raw_header), cat, skey))
    return items
