"""Escrow shares of a category key: split in the car, opened by custodians, resealed to
an officer, combined by the officer.

The car splits each escrowed vehicle x epoch x category key k-of-n
(``crypto.shamir``) among the seats of the committee in force for the epoch and
seals share ``i`` to seat ``i``'s escrow key (the vehicle-OEM seat: its OEM's key,
``escrow_committee.get_seat_key``). Each box's HPKE ``info`` binds vehicle, epoch,
category, committee version and index, so a box opens for nothing else. For a
case, a custodian opens its share and reseals it to the case's officer key under
an ``info`` that also binds the case id: a released share cannot be replayed
into another case, or passed off as a share of another key. The officer combines
k of them; ``combine_category_key`` checks the result against the envelope's
``key_check`` before anyone decrypts with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from carchain.core.case_records import EscrowCommittee
from carchain.crypto.sealing import open_sealed_box, seal_to
from carchain.crypto.shamir import SHARE_SIZE, combine_shares, split_secret
from carchain.crypto.signing import SigningKey
from carchain.data.custody import (
    CATEGORY_KEY_SIZE,
    CategoryKeyEnvelope,
    EscrowShare,
    is_key_of,
)
from carchain.errors import DecryptionFailed, EscrowMismatch, KeyCheckMismatch

_SHARE_LABEL = b"carchain/escrow-share/v1"
_OFFICER_LABEL = b"carchain/escrow-release/v1"


def _compute_info(label: bytes, parts: Sequence[bytes]) -> bytes:
    out = bytearray(label)
    for part in parts:
        out += len(part).to_bytes(2, "big") + part
    return bytes(out)


def compute_share_info(
    vehicle_id: str, epoch: int, category: str, committee_version: int, index: int
) -> bytes:
    """Return the HPKE ``info`` of the box sealing share ``index`` of one key to its seat."""
    parts = (
        vehicle_id.encode(),
        epoch.to_bytes(8, "big"),
        category.encode(),
        committee_version.to_bytes(8, "big"),
        index.to_bytes(2, "big"),
    )
    return _compute_info(_SHARE_LABEL, parts)


def compute_officer_share_info(
    case_id: int,
    vehicle_id: str,
    epoch: int,
    category: str,
    committee_version: int,
    index: int,
) -> bytes:
    """Return the HPKE ``info`` of a share resealed to a case's officer (binds the case)."""
    parts = (
        case_id.to_bytes(8, "big"),
        vehicle_id.encode(),
        epoch.to_bytes(8, "big"),
        category.encode(),
        committee_version.to_bytes(8, "big"),
        index.to_bytes(2, "big"),
    )
    return _compute_info(_OFFICER_LABEL, parts)


def seal_shares(
    category_key: bytes,
    vehicle_id: str,
    epoch: int,
    category: str,
    committee: EscrowCommittee,
    seat_keys: Sequence[bytes],
) -> list[EscrowShare]:
    """Return the key's k-of-n shares, share ``i`` sealed to ``seat_keys[i-1]`` (the key of
    the committee's seat with index ``i``); raise ``EscrowMismatch`` if the seat keys are
    not one 32-byte key per seat or the seats are not indexed 1..n in order."""
    if len(category_key) != CATEGORY_KEY_SIZE:
        raise ValueError("a category key is 32 bytes")
    seats = committee.custodians
    if [c.index for c in seats] != list(range(1, len(seats) + 1)):
        raise EscrowMismatch("committee seats are not indexed 1..n", category=category[:40])
    if len(seat_keys) != len(seats) or any(len(k) != 32 for k in seat_keys):
        raise EscrowMismatch(
            "need one 32-byte seat key per committee seat",
            committee_version=committee.version,
            category=category[:40],
        )
    shares = split_secret(category_key, committee.threshold, len(seats))
    out: list[EscrowShare] = []
    for (index, share), holder in zip(shares, seat_keys, strict=True):
        info = compute_share_info(vehicle_id, epoch, category, committee.version, index)
        out.append(EscrowShare(holder, index, seal_to(holder, share, info)))
    return out


def open_share(envelope: CategoryKeyEnvelope, index: int, escrow_signing_key: SigningKey) -> bytes:
    """Return the 32-byte share ``index`` of the envelope's key, opened with the seat's
    escrow key; raise ``DecryptionFailed`` if there is no such share or it is not sealed
    to this key."""
    share = next((s for s in envelope.escrow if s.index == index), None)
    if share is None or share.holder != escrow_signing_key.public_key:
        raise DecryptionFailed("cannot decrypt")
    info = compute_share_info(
        envelope.vehicle_id, envelope.epoch, envelope.category, envelope.committee_version, index
    )
    value = open_sealed_box(escrow_signing_key, share.box, info)
    if len(value) != SHARE_SIZE:
        raise DecryptionFailed("cannot decrypt")
    return value


def reseal_share_for_officer(
    share: bytes,
    case_id: int,
    vehicle_id: str,
    epoch: int,
    category: str,
    committee_version: int,
    index: int,
    officer_key: bytes,
) -> bytes:
    """Return ``share`` sealed to a case's officer key (a ``ShareItem.box``), bound to the
    case, vehicle, epoch, category, committee version and index."""
    if len(share) != SHARE_SIZE:
        raise ValueError("a share is 32 bytes")
    info = compute_officer_share_info(
        case_id, vehicle_id, epoch, category, committee_version, index
    )
    return seal_to(officer_key, share, info)


def open_officer_share(
    box: bytes,
    case_id: int,
    vehicle_id: str,
    epoch: int,
    category: str,
    committee_version: int,
    index: int,
    officer_signing_key: SigningKey,
) -> bytes:
    """Return the share in a released box, for the officer of ``case_id``; raise
    ``DecryptionFailed`` under any other case, key, scope, version or index."""
    info = compute_officer_share_info(
        case_id, vehicle_id, epoch, category, committee_version, index
    )
    value = open_sealed_box(officer_signing_key, box, info)
    if len(value) != SHARE_SIZE:
        raise DecryptionFailed("cannot decrypt")
    return value


def combine_category_key(
    shares: Sequence[tuple[int, bytes]], envelope: CategoryKeyEnvelope
) -> bytes:
    """Return the envelope's category key from ``(index, share)`` pairs; raise
    ``KeyCheckMismatch`` if they do not give it (too few, or another key's), and
    ``InvalidSecretShares`` if they are malformed."""
    key = combine_shares(shares)
    if not is_key_of(envelope, key):
        raise KeyCheckMismatch(
            "the shares do not combine to this envelope's key",
            category=envelope.category[:40],
            count=len(shares),
        )
    return key


def validate_escrow_for(
    env: CategoryKeyEnvelope, committee: EscrowCommittee | None, seat_keys: Sequence[bytes]
) -> None:
    """Raise ``EscrowMismatch`` unless the envelope's escrow list is exactly what the
    committee in force for its epoch asks: no shares (version 0) if there is none or it
    does not escrow the category; else its version and one share per seat, share ``i``
    held by ``seat_keys[i-1]`` at index ``i``."""
    fields = {"category": env.category[:40], "vehicle_id": env.vehicle_id[:64]}
    if committee is None or env.category not in committee.categories:
        if env.escrow or env.committee_version:
            raise EscrowMismatch("escrow shares for a category no committee escrows", **fields)
        return
    if env.committee_version != committee.version:
        raise EscrowMismatch(
            "escrow shares are not for the committee in force for the epoch",
            committee_version=env.committee_version,
            **fields,
        )
    if len(env.escrow) != len(committee.custodians) or len(seat_keys) != len(env.escrow):
        raise EscrowMismatch(
            "escrow shares are not one per committee seat", count=len(env.escrow), **fields
        )
    for share, seat, holder in zip(env.escrow, committee.custodians, seat_keys, strict=True):
        if share.index != seat.index or share.holder != holder:
            raise EscrowMismatch(
                "an escrow share is not sealed to its committee seat", index=share.index, **fields
            )
