"""Typed vehicle records and their canonical encoding.

Five kinds: periodic telemetry, EDR crash events (the GB 39732-2020 data
elements), diagnostics, V2X exchange logs and V2X data transfers with receipts.
Every field is optional, because minimisation may drop it, and every field names
its data category in
``CATEGORIES``. A record encodes as a MessagePack array whose first element is
its kind; the encoding is canonical, so the Merkle leaf of a record is exactly
its encoded bytes.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from carchain.data.categories import DataCategory
from carchain.errors import InvalidBody

C = DataCategory


class Telemetry(msgspec.Struct, tag="telemetry", array_like=True, frozen=True):
    """A periodic sample: time, position (WGS-84 degrees), speed, heading, acceleration."""

    time_ms: int | None = None
    lat: float | None = None
    lon: float | None = None
    speed_kmh: float | None = None
    heading_deg: float | None = None
    accel_mps2: float | None = None

    CATEGORIES: ClassVar[dict[str, DataCategory]] = {
        "time_ms": C.TIME,
        "lat": C.LOCATION,
        "lon": C.LOCATION,
        "speed_kmh": C.MOTION,
        "heading_deg": C.MOTION,
        "accel_mps2": C.MOTION,
    }


class EdrEvent(msgspec.Struct, tag="edr", array_like=True, frozen=True):
    """A crash event with the GB 39732-2020 data elements.

    Pre-crash series run from -5 s to 0 s at 2 Hz (11 samples); the longitudinal
    delta-V series runs from the trigger to 250 ms at 10 ms steps.
    """

    event_time_ms: int | None = None
    pre_crash_speed_kmh: list[float] | None = None
    service_brake: list[bool] | None = None
    accelerator_pedal_pct: list[float] | None = None
    engine_rpm: list[int] | None = None
    driver_seatbelt_buckled: bool | None = None
    abs_status: str | None = None
    esc_status: str | None = None
    delta_v_long_kmh: list[float] | None = None
    max_delta_v_long_kmh: float | None = None
    ignition_cycle_count: int | None = None

    CATEGORIES: ClassVar[dict[str, DataCategory]] = {
        "event_time_ms": C.TIME,
        "pre_crash_speed_kmh": C.MOTION,
        "service_brake": C.VEHICLE_CONTROL,
        "accelerator_pedal_pct": C.VEHICLE_CONTROL,
        "engine_rpm": C.VEHICLE_CONTROL,
        "driver_seatbelt_buckled": C.OCCUPANT,
        "abs_status": C.VEHICLE_CONTROL,
        "esc_status": C.VEHICLE_CONTROL,
        "delta_v_long_kmh": C.CRASH_PULSE,
        "max_delta_v_long_kmh": C.CRASH_PULSE,
        "ignition_cycle_count": C.VEHICLE_STATUS,
    }


class Diagnostics(msgspec.Struct, tag="diagnostics", array_like=True, frozen=True):
    """Diagnostic trouble codes (e.g. ``P0301``) read at one time."""

    time_ms: int | None = None
    trouble_codes: list[str] | None = None
    malfunction_lamp_on: bool | None = None

    CATEGORIES: ClassVar[dict[str, DataCategory]] = {
        "time_ms": C.TIME,
        "trouble_codes": C.DIAGNOSTICS,
        "malfunction_lamp_on": C.DIAGNOSTICS,
    }


class V2xLog(msgspec.Struct, tag="v2x", array_like=True, frozen=True):
    """One V2X message sent or received: peer pseudonym, message type and hash, place."""

    time_ms: int | None = None
    direction: str | None = None
    peer: str | None = None
    message_type: str | None = None
    message_hash: bytes | None = None
    lat: float | None = None
    lon: float | None = None

    CATEGORIES: ClassVar[dict[str, DataCategory]] = {
        "time_ms": C.TIME,
        "direction": C.V2X_MESSAGE,
        "peer": C.V2X_PEER,
        "message_type": C.V2X_MESSAGE,
        "message_hash": C.V2X_MESSAGE,
        "lat": C.LOCATION,
        "lon": C.LOCATION,
    }


class V2xTransfer(msgspec.Struct, tag="v2x_transfer", array_like=True, frozen=True):
    """One car-to-car data transfer, as each of the two cars logs it (``carchain.v2x.transfer``).

    ``transfer`` is the sender's signed transfer (a salted commitment to the data,
    never the data), ``receipt`` the receiver's signed receipt over its hash; both
    cars log the same two, with their own ``role``.
    """

    time_ms: int | None = None
    role: str | None = None
    transfer: bytes | None = None
    receipt: bytes | None = None

    CATEGORIES: ClassVar[dict[str, DataCategory]] = {
        "time_ms": C.TIME,
        "role": C.V2X_MESSAGE,
        "transfer": C.V2X_MESSAGE,
        "receipt": C.V2X_MESSAGE,
    }


Record = Telemetry | EdrEvent | Diagnostics | V2xLog | V2xTransfer
RECORD_TYPES: tuple[type[Record], ...] = (Telemetry, EdrEvent, Diagnostics, V2xLog, V2xTransfer)
RECORD_KINDS: dict[str, type[Record]] = {str(t.__struct_config__.tag): t for t in RECORD_TYPES}

_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[Record] = msgspec.msgpack.Decoder(Record)


def encode_record(record: Record) -> bytes:
    """Return the canonical encoding of a record (its Merkle leaf)."""
    return _encoder.encode(record)


def decode_record(raw: bytes) -> Record:
    """Decode a record; raise ``InvalidBody`` if the bytes are not a canonical record."""
    try:
        record: Record = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidBody(f"not a record: {exc}") from exc
    if _encoder.encode(record) != raw:
        raise InvalidBody("record is not canonically encoded")
    return record


def get_record_kind(record: Record) -> str:
    """Return the wire name of a record's kind."""
    return str(type(record).__struct_config__.tag)


def compute_record_categories(record: Record) -> set[DataCategory]:
    """Return the categories of the fields a record actually carries."""
    cats = type(record).CATEGORIES
    return {cats[name] for name in record.__struct_fields__ if getattr(record, name) is not None}
