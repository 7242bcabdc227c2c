"""The vehicle registry: which OEM made a car, its key, its owner, its status.

No VIN goes on chain: the OEM registers a salted commitment to it, so a party
that knows a VIN and the salt can check the link, and nobody else can.

Vehicle ids are namespaced by OEM: ``<oem member id>:<local id>``. Member ids
never contain ``:``, so an id names exactly one OEM, and only that OEM may
register ids in its namespace.

Every key a vehicle ever had is kept as a ``KeyPeriod`` (from when to when it
was the vehicle's key), so a batch signed before a rotation still proves, and a
batch signed by a key rotated in after its time range is caught. A rotation
needs the current owner's co-signature: the OEM alone cannot swap in a key of
its own and sign "vehicle" data.
"""

from __future__ import annotations

import re
from enum import StrEnum

import msgspec

from carchain.core import access_log, case_index, members
from carchain.core.effects import Effects
from carchain.core.members import Role
from carchain.core.state import (
    KVView,
    compute_key,
    decode_record,
    get_record,
    get_record_optional,
    put_record,
)
from carchain.core.transactions import encode
from carchain.core.types import BlockContext, MemberId, PublicKey, VehicleId
from carchain.core.validation import (
    NAMESPACE_SEPARATOR,
    validate_digest,
    validate_member_identifier,
    validate_public_key,
    validate_text,
)
from carchain.crypto.signing import verify_signature
from carchain.errors import (
    AlreadyExists,
    ForeignVehicleNamespace,
    InvalidBody,
    InvalidOwnerConsent,
    InvalidSignature,
    InvalidState,
    NotFound,
    Unauthorized,
)

STORE = "vehicles"
# Every transaction that writes a vehicle record or its owner history emits one of these
# (with ``vehicle_id``): a follower of the chain's events sees every change of the registry.
VEHICLE_EVENT_TYPES = (
    "vehicle_registered",
    "vehicle_transferred",
    "vehicle_key_rotated",
    "vehicle_revoked",
)
MIN_MODEL_YEAR = 1990
MAX_MODEL_YEAR = 2100
TRANSFER_DOMAIN = b"carchain/vehicle-transfer/v1\x00"
ROTATION_DOMAIN = b"carchain/vehicle-rotate-key/v1\x00"
_LOCAL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class VehicleStatus(StrEnum):
    """Lifecycle of a vehicle registration."""

    ACTIVE = "active"
    REVOKED = "revoked"


class Vehicle(msgspec.Struct, frozen=True):
    """A registered vehicle as stored on chain."""

    vehicle_id: VehicleId
    oem: MemberId
    vin_commitment: bytes
    public_key: PublicKey
    model: str
    year: int
    owner: PublicKey
    status: VehicleStatus
    registered_height: int
    key_version: int = 1
    transfer_seq: int = 0
    revoked_reason: str = ""
    key_since_ms: int = 0
    owner_since_ms: int = 0


class KeyPeriod(msgspec.Struct, frozen=True):
    """One key a vehicle had, and the block times between which it was the vehicle's key."""

    public_key: PublicKey
    key_version: int
    since_ms: int
    until_ms: int = 0  # 0: still the vehicle's key


# --- transaction bodies -------------------------------------------------------------


class RegisterVehicle(msgspec.Struct, frozen=True):
    """Body of ``vehicle.register``: signed by the vehicle's OEM."""

    vehicle_id: str
    vin_commitment: bytes
    public_key: bytes
    model: str
    year: int
    owner: bytes


class TransferVehicle(msgspec.Struct, frozen=True):
    """Body of ``vehicle.transfer``: signed by the OEM, co-signed by the current owner."""

    vehicle_id: str
    new_owner: bytes
    owner_signature: bytes


class RotateVehicleKey(msgspec.Struct, frozen=True):
    """Body of ``vehicle.rotate_key``: signed by the OEM, co-signed by the current owner."""

    vehicle_id: str
    new_public_key: bytes
    owner_signature: bytes


class RevokeVehicle(msgspec.Struct, frozen=True):
    """Body of ``vehicle.revoke``: signed by the vehicle's OEM. Final."""

    vehicle_id: str
    reason: str


class OwnerPeriod(msgspec.Struct, frozen=True):
    """Who owned a vehicle from ``since_ms`` (inclusive) to ``until_ms`` (exclusive).

    Past periods are kept under ``o/<vehicle id>/<seq>``; the current one is
    read from the vehicle record and has ``until_ms == OPEN_UNTIL_MS``.
    """

    owner: bytes
    since_ms: int
    until_ms: int


OPEN_UNTIL_MS = 2**63 - 1


class _TransferConsent(msgspec.Struct, array_like=True, frozen=True):
    chain_id: str
    vehicle_id: str
    new_owner: bytes
    transfer_seq: int


class _RotationConsent(msgspec.Struct, array_like=True, frozen=True):
    chain_id: str
    vehicle_id: str
    new_public_key: bytes
    key_version: int
    transfer_seq: int


# --- vehicle ids ------------------------------------------------------------------


def compute_vehicle_id(oem: str, local_id: str) -> VehicleId:
    """Return the vehicle id ``<oem>:<local id>``; raise ``InvalidBody`` if either part is bad."""
    vehicle_id = f"{oem}{NAMESPACE_SEPARATOR}{local_id}"
    validate_vehicle_id(vehicle_id)
    return VehicleId(vehicle_id)


def compute_vehicle_namespace(vehicle_id: str) -> MemberId:
    """Return the member id of the OEM whose namespace ``vehicle_id`` is in."""
    validate_vehicle_id(vehicle_id)
    return MemberId(vehicle_id.partition(NAMESPACE_SEPARATOR)[0])


def validate_vehicle_id(vehicle_id: str) -> None:
    """Raise ``InvalidBody`` unless ``vehicle_id`` is ``<member id>:<local id>``.

    The local id is 1-64 characters of ``[A-Za-z0-9._-]``; neither part holds ``:``.
    """
    oem, sep, local_id = vehicle_id.partition(NAMESPACE_SEPARATOR)
    if not sep or not _LOCAL_ID_RE.fullmatch(local_id):
        raise InvalidBody(
            "vehicle id must be <oem member id>:<local id>, the local id 1-64 of [A-Za-z0-9._-]",
            value=vehicle_id[:140],
        )
    validate_member_identifier(oem, "vehicle id's OEM part")


def validate_vehicle_namespace(vehicle_id: str, oem: str) -> None:
    """Raise ``ForeignVehicleNamespace`` unless ``vehicle_id`` is in ``oem``'s namespace."""
    if compute_vehicle_namespace(vehicle_id) != oem:
        raise ForeignVehicleNamespace(
            "vehicle id is in another OEM's namespace", vehicle_id=vehicle_id, oem=oem
        )


# --- reads ----------------------------------------------------------------------


VEHICLE_KEY_PREFIX = b"v/"  # every vehicle record's key starts so (listings page by it)


def compute_vehicle_key(vehicle_id: str) -> bytes:
    """Return the state key of a vehicle record."""
    return compute_key("v", vehicle_id)


def decode_vehicle(raw: bytes) -> Vehicle:
    """Decode a stored vehicle record."""
    return decode_record(raw, Vehicle)


def compute_vehicle_pubkey_key(public_key: bytes) -> bytes:
    """Return the state key that maps a vehicle public key to its vehicle id."""
    return compute_key("k", public_key)


def compute_transfer_signing_bytes(
    chain_id: str, vehicle_id: str, new_owner: bytes, transfer_seq: int
) -> bytes:
    """Return the bytes the current owner signs to consent to a transfer."""
    return TRANSFER_DOMAIN + encode(_TransferConsent(chain_id, vehicle_id, new_owner, transfer_seq))


def compute_key_period_key(vehicle_id: str, key_version: int) -> bytes:
    """Return the state key of one of a vehicle's key periods."""
    return compute_key("keys", vehicle_id, key_version)


def compute_rotation_signing_bytes(
    chain_id: str, vehicle_id: str, new_public_key: bytes, key_version: int, transfer_seq: int
) -> bytes:
    """Return the bytes the current owner signs to consent to a key rotation.

    ``key_version`` is the version the new key will have and ``transfer_seq`` the
    vehicle's current one: a consent works once, and never for a later owner.
    """
    consent = _RotationConsent(chain_id, vehicle_id, new_public_key, key_version, transfer_seq)
    return ROTATION_DOMAIN + encode(consent)


def get_vehicle_optional(view: KVView, vehicle_id: str) -> Vehicle | None:
    """Return the vehicle or ``None``."""
    return get_record_optional(view, STORE, compute_vehicle_key(vehicle_id), Vehicle)


def get_vehicle(view: KVView, vehicle_id: str) -> Vehicle:
    """Return the vehicle or raise ``NotFound``."""
    key = compute_vehicle_key(vehicle_id)
    return get_record(view, STORE, key, Vehicle, "vehicle", vehicle_id=vehicle_id)


def get_vehicle_by_key_optional(view: KVView, public_key: bytes) -> Vehicle | None:
    """Return the vehicle whose current key is ``public_key``, or ``None``."""
    raw = view.get(STORE, compute_vehicle_pubkey_key(public_key))
    return None if raw is None else get_vehicle(view, raw.decode())


def get_key_period_optional(view: KVView, vehicle_id: str, key_version: int) -> KeyPeriod | None:
    """Return key period ``key_version`` of the vehicle or ``None``."""
    key = compute_key_period_key(vehicle_id, key_version)
    return get_record_optional(view, STORE, key, KeyPeriod)


def get_key_period(view: KVView, vehicle_id: str, key_version: int) -> KeyPeriod:
    """Return key period ``key_version`` of the vehicle or raise ``NotFound``."""
    key = compute_key_period_key(vehicle_id, key_version)
    fields = {"vehicle_id": vehicle_id, "key_version": key_version}
    return get_record(view, STORE, key, KeyPeriod, "vehicle key", **fields)


def get_key_history(view: KVView, vehicle_id: str) -> list[KeyPeriod]:
    """Return every key period of the vehicle, oldest first, the current key last."""
    vehicle = get_vehicle(view, vehicle_id)
    return [get_key_period(view, vehicle_id, v) for v in range(1, vehicle.key_version + 1)]


def get_key_at(view: KVView, vehicle_id: str, time_ms: int) -> KeyPeriod:
    """Return the period of the key that was the vehicle's key at block time ``time_ms``.

    The first key also covers the time before registration (cars record at the
    factory); every later key starts at the block that rotated it in.
    """
    vehicle = get_vehicle(view, vehicle_id)
    for version in range(vehicle.key_version, 1, -1):
        period = get_key_period(view, vehicle_id, version)
        if period.since_ms <= time_ms:
            return period
    return get_key_period(view, vehicle_id, 1)


def compute_owner_period_key(vehicle_id: str, seq: int) -> bytes:
    """Return the state key of a vehicle's ``seq``-th past ownership period (from 0)."""
    return compute_key("o", vehicle_id, seq)


def get_current_owner_period(vehicle: Vehicle) -> OwnerPeriod:
    """Return the vehicle's current ownership period (open-ended)."""
    return OwnerPeriod(vehicle.owner, vehicle.owner_since_ms, OPEN_UNTIL_MS)


def get_owner_period_at(view: KVView, vehicle_id: str, time_ms: int) -> OwnerPeriod:
    """Return the ownership period that holds ``time_ms``; ``NotFound`` before registration."""
    return get_owner_period_of(view, get_vehicle(view, vehicle_id), time_ms)


def get_owner_period_of(view: KVView, vehicle: Vehicle, time_ms: int) -> OwnerPeriod:
    """Return the period of ``vehicle`` (a record read from ``view``) that holds ``time_ms``."""
    if time_ms >= vehicle.owner_since_ms:
        return get_current_owner_period(vehicle)
    vid = vehicle.vehicle_id
    for seq in range(vehicle.transfer_seq - 1, -1, -1):
        period = get_record_optional(view, STORE, compute_owner_period_key(vid, seq), OwnerPeriod)
        if period is not None and period.since_ms <= time_ms:
            return period
    raise NotFound("vehicle was not registered at that time", vehicle_id=vid, time_ms=time_ms)


def get_first_owner_period(view: KVView, vehicle: Vehicle) -> OwnerPeriod:
    """Return the vehicle's first ownership period (from its registration)."""
    if vehicle.transfer_seq == 0:
        return get_current_owner_period(vehicle)
    first = get_record_optional(
        view, STORE, compute_owner_period_key(vehicle.vehicle_id, 0), OwnerPeriod
    )
    if first is None:
        raise NotFound("owner history is missing", vehicle_id=vehicle.vehicle_id)
    return first


def get_owner_at(view: KVView, vehicle_id: str, time_ms: int) -> bytes:
    """Return the owner's account key at ``time_ms``; ``NotFound`` before registration."""
    return get_owner_period_at(view, vehicle_id, time_ms).owner


def get_owner_history(view: KVView, vehicle_id: str) -> list[OwnerPeriod]:
    """Return every ownership period of the vehicle, oldest first, the current one last."""
    vehicle = get_vehicle(view, vehicle_id)
    past = [
        get_record_optional(view, STORE, compute_owner_period_key(vehicle_id, seq), OwnerPeriod)
        for seq in range(vehicle.transfer_seq)
    ]
    return [p for p in past if p is not None] + [get_current_owner_period(vehicle)]


def is_active_vehicle(vehicle: Vehicle) -> bool:
    """Return whether the vehicle is registered and not revoked."""
    return vehicle.status == VehicleStatus.ACTIVE


def _validate_own_active_vehicle(view: KVView, signer: bytes, vehicle_id: str) -> Vehicle:
    oem = members.validate_active_member(view, signer, Role.OEM)
    vehicle = get_vehicle(view, vehicle_id)
    if vehicle.oem != oem.member_id:
        raise Unauthorized("only the vehicle's own OEM may do this", vehicle_id=vehicle_id)
    if not is_active_vehicle(vehicle):
        raise InvalidState("vehicle is revoked", vehicle_id=vehicle_id)
    return vehicle


def compute_retired_key_key(public_key: bytes) -> bytes:
    """Return the state key that marks a vehicle key as rotated out (value: its vehicle id)."""
    return compute_key("r", public_key)


def _validate_unused_key(view: KVView, public_key: bytes) -> None:
    # A key is a vehicle's for good: one rotated out (often because it leaked) is
    # never taken again, by another vehicle or by its own, so a signature by it
    # always names the one vehicle and key period it had.
    if view.get(STORE, compute_vehicle_pubkey_key(public_key)) is not None:
        raise AlreadyExists("public key already belongs to a vehicle")
    if view.get(STORE, compute_retired_key_key(public_key)) is not None:
        raise AlreadyExists("public key was a vehicle's key before and was rotated out")


# --- transitions -----------------------------------------------------------------


def process_register(
    view: KVView, ctx: BlockContext, signer: bytes, body: RegisterVehicle, fx: Effects
) -> None:
    """Register a vehicle under the signing OEM."""
    oem = members.validate_active_member(view, signer, Role.OEM)
    validate_vehicle_id(body.vehicle_id)
    validate_vehicle_namespace(body.vehicle_id, oem.member_id)
    validate_digest(body.vin_commitment, "VIN commitment")
    validate_public_key(body.public_key, "vehicle public key")
    validate_public_key(body.owner, "owner account key")
    validate_text(body.model, "model", 64)
    if not MIN_MODEL_YEAR <= body.year <= MAX_MODEL_YEAR:
        raise InvalidBody("model year out of range", year=body.year)
    key = compute_vehicle_key(body.vehicle_id)
    if view.get(STORE, key) is not None:
        raise AlreadyExists("vehicle id already registered", vehicle_id=body.vehicle_id)
    _validate_unused_key(view, body.public_key)
    vehicle = Vehicle(
        vehicle_id=VehicleId(body.vehicle_id),
        oem=oem.member_id,
        vin_commitment=body.vin_commitment,
        public_key=PublicKey(body.public_key),
        model=body.model,
        year=body.year,
        owner=PublicKey(body.owner),
        status=VehicleStatus.ACTIVE,
        registered_height=ctx.height,
        key_since_ms=ctx.time_ms,
        owner_since_ms=ctx.time_ms,
    )
    put_record(view, STORE, key, vehicle)
    put_record(
        view,
        STORE,
        compute_key_period_key(body.vehicle_id, 1),
        KeyPeriod(vehicle.public_key, 1, ctx.time_ms),
    )
    view.set(STORE, compute_vehicle_pubkey_key(body.public_key), body.vehicle_id.encode())
    access_log.process_open_logs(view, body.vehicle_id, oem.member_id)
    case_index.process_open_vehicle(view, body.vehicle_id)
    fx.emit("vehicle_registered", vehicle_id=body.vehicle_id, oem=oem.member_id)


def process_transfer(
    view: KVView, ctx: BlockContext, signer: bytes, body: TransferVehicle, fx: Effects
) -> None:
    """Hand the vehicle to a new owner, with the old owner's signed consent."""
    vehicle = _validate_own_active_vehicle(view, signer, body.vehicle_id)
    validate_public_key(body.new_owner, "new owner account key")
    if body.new_owner == vehicle.owner:
        raise InvalidBody("new owner is the current owner")
    message = compute_transfer_signing_bytes(
        ctx.chain_id, vehicle.vehicle_id, body.new_owner, vehicle.transfer_seq
    )
    try:
        verify_signature(vehicle.owner, message, body.owner_signature)
    except InvalidSignature as exc:
        raise Unauthorized("the current owner did not sign this transfer") from exc
    since_ms = process_owner_change(view, ctx, vehicle)
    updated = msgspec.structs.replace(
        vehicle,
        owner=body.new_owner,
        transfer_seq=vehicle.transfer_seq + 1,
        owner_since_ms=since_ms,
    )
    put_record(view, STORE, compute_vehicle_key(vehicle.vehicle_id), updated)
    fx.emit("vehicle_transferred", vehicle_id=vehicle.vehicle_id, seq=str(updated.transfer_seq))


def validate_rotation_consent(chain_id: str, vehicle: Vehicle, body: RotateVehicleKey) -> None:
    """Raise ``InvalidOwnerConsent`` unless the current owner signed exactly this rotation."""
    message = compute_rotation_signing_bytes(
        chain_id,
        vehicle.vehicle_id,
        body.new_public_key,
        vehicle.key_version + 1,
        vehicle.transfer_seq,
    )
    try:
        verify_signature(vehicle.owner, message, body.owner_signature)
    except InvalidSignature as exc:
        raise InvalidOwnerConsent(
            "the current owner did not co-sign this key rotation", vehicle_id=vehicle.vehicle_id
        ) from exc


def _process_key_period_change(view: KVView, old: Vehicle, new: Vehicle, time_ms: int) -> None:
    # Close the outgoing key's period and open the new key's, at this block's time.
    closed = msgspec.structs.replace(
        get_key_period(view, old.vehicle_id, old.key_version), until_ms=time_ms
    )
    put_record(view, STORE, compute_key_period_key(old.vehicle_id, old.key_version), closed)
    opened = KeyPeriod(new.public_key, new.key_version, time_ms)
    put_record(view, STORE, compute_key_period_key(new.vehicle_id, new.key_version), opened)


def process_owner_change(view: KVView, ctx: BlockContext, vehicle: Vehicle) -> int:
    """Close the current ownership period at the block time, keep it; return that time.

    Periods never go backwards (``max`` with the period's start), and a transfer
    in the same millisecond as the period began leaves an empty period that is
    kept, so the history stays dense by ``transfer_seq``.
    """
    until_ms = max(ctx.time_ms, vehicle.owner_since_ms)
    period = OwnerPeriod(vehicle.owner, vehicle.owner_since_ms, until_ms)
    put_record(
        view, STORE, compute_owner_period_key(vehicle.vehicle_id, vehicle.transfer_seq), period
    )
    return until_ms


def process_rotate_key(
    view: KVView, ctx: BlockContext, signer: bytes, body: RotateVehicleKey, fx: Effects
) -> None:
    """Replace the vehicle's key with the owner's consent; the old key stops being accepted."""
    vehicle = _validate_own_active_vehicle(view, signer, body.vehicle_id)
    validate_public_key(body.new_public_key, "new vehicle public key")
    validate_rotation_consent(ctx.chain_id, vehicle, body)
    _validate_unused_key(view, body.new_public_key)
    view.delete(STORE, compute_vehicle_pubkey_key(vehicle.public_key))
    view.set(STORE, compute_retired_key_key(vehicle.public_key), vehicle.vehicle_id.encode())
    view.set(STORE, compute_vehicle_pubkey_key(body.new_public_key), vehicle.vehicle_id.encode())
    updated = msgspec.structs.replace(
        vehicle,
        public_key=body.new_public_key,
        key_version=vehicle.key_version + 1,
        key_since_ms=ctx.time_ms,
    )
    put_record(view, STORE, compute_vehicle_key(vehicle.vehicle_id), updated)
    _process_key_period_change(view, vehicle, updated, ctx.time_ms)
    fx.emit(
        "vehicle_key_rotated", vehicle_id=vehicle.vehicle_id, key_version=str(updated.key_version)
    )


def process_revoke(
    view: KVView, ctx: BlockContext, signer: bytes, body: RevokeVehicle, fx: Effects
) -> None:
    """Revoke the vehicle for good: its key and data submissions stop being accepted."""
    vehicle = _validate_own_active_vehicle(view, signer, body.vehicle_id)
    validate_text(body.reason, "revocation reason", 256)
    updated = msgspec.structs.replace(
        vehicle, status=VehicleStatus.REVOKED, revoked_reason=body.reason
    )
    put_record(view, STORE, compute_vehicle_key(vehicle.vehicle_id), updated)
    fx.emit("vehicle_revoked", vehicle_id=vehicle.vehicle_id)
