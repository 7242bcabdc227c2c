"""The codec: CAM and DENM round-trip through pycrate (UPER), JER for the CLI, and a
hypothesis fuzz of every decoder and of the receiver — truncated, garbage, mutated and
oversized input gives a typed error, never a crash, and the fast parser never accepts
what the full one refuses."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carchain.errors import V2xDecodeError, V2xRejected
from carchain.v2x import codec
from carchain.v2x import signed_data as sd
from carchain.v2x.certificates import PSID_CAM, decode_certificate
from carchain.v2x.messages import Kinematics, build_cam_value, build_denm_value, get_cam_kinematics
from carchain.v2x.receiver import Receiver
from carchain.v2x.signed_data import build_signed_data, decode_signed_data
from tests.v2x.conftest import NOW_MS, make_pki
from tests.v2x.test_receiver import make_receiver

PKI = make_pki()
CAM = codec.encode_cam(build_cam_value(77, NOW_MS))
SIGNED = {
    signer: build_signed_data(CAM, PSID_CAM, NOW_MS, PKI.key, PKI.cert, signer)
    for signer in ("digest", "certificate")
}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DECODERS = [
    codec.decode_cam,
    codec.decode_denm,
    codec.decode_ieee1609dot2_data,
    codec.decode_certificate_value,
    decode_certificate,
    decode_signed_data,
]


def test_cam_round_trip_and_kinematics() -> None:
    kinematics = Kinematics(77, 312_000_000, 1_214_000_000, 2_500, 1_800)
    value = build_cam_value(77, NOW_MS, kinematics)
    raw = codec.encode_cam(value)
    assert codec.decode_cam(raw) == value
    assert get_cam_kinematics(codec.decode_cam(raw)) == kinematics


def test_denm_round_trip() -> None:
    value = build_denm_value(5, NOW_MS, 312_000_000, 1_214_000_000, cause=97)
    assert codec.decode_denm(codec.encode_denm(value)) == value


def test_jer_round_trip() -> None:
    value = build_cam_value(77, NOW_MS)
    text = codec.convert_value_to_jer("cam", value)
    assert '"stationID"' in text
    assert codec.convert_jer_to_value("cam", text) == value


@pytest.mark.parametrize("text", ["{}", "[1]", "not json", '{"header": 5}'])
def test_invalid_jer(text: str) -> None:
    with pytest.raises(V2xDecodeError):
        codec.convert_jer_to_value("cam", text)
    with pytest.raises(V2xDecodeError):
        codec.convert_jer_to_value("ivim", "{}")


def test_invalid_value_to_encode() -> None:
    with pytest.raises(V2xDecodeError):
        codec.encode_cam({"header": {"protocolVersion": 2}})


def test_invalid_trailing_bytes_after_a_cam() -> None:
    with pytest.raises(V2xDecodeError):
        codec.decode_cam(CAM + b"\x00")


def test_invalid_not_bytes() -> None:
    with pytest.raises(V2xDecodeError):
        codec.decode_cam("0202")  # type: ignore[arg-type]


def _decode_or_typed_error(raw: bytes) -> None:
    for decode in DECODERS:
        with contextlib.suppress(V2xDecodeError):
            decode(raw)


@FUZZ
@given(st.binary(min_size=0, max_size=400))
def test_fuzz_garbage_gives_typed_errors(raw: bytes) -> None:
    _decode_or_typed_error(raw)


@FUZZ
@given(st.sampled_from(sorted(SIGNED)), st.data())
def test_fuzz_truncated_and_mutated(signer: str, data: st.DataObject) -> None:
    raw = bytearray(SIGNED[signer])
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    positions = data.draw(st.lists(st.integers(0, len(raw) - 1), max_size=4))
    for position in positions:
        raw[position] ^= data.draw(st.integers(1, 255))
    mutated = bytes(raw[: len(raw) - cut])
    _decode_or_typed_error(mutated)
    _assert_fast_never_more_lenient(mutated)
    receiver: Receiver = make_receiver(PKI)
    try:
        receiver.verify(mutated)
    except V2xRejected:
        pass
    else:
        assert mutated == SIGNED[signer]  # only the untouched message verifies


def _assert_fast_never_more_lenient(raw: bytes) -> None:
    """What the fast path accepts the full path accepts too, and reads the same.

    A certificate signer's bytes are not decoded by the fast path: the receiver decodes
    them (or finds exactly these bytes, validated before, in its cache).
    """
    try:
        fast = sd._decode_fast(raw)
        for certificate in fast.signer_certificates if fast is not None else ():
            decode_certificate(certificate)
    except V2xDecodeError:
        return
    if fast is not None:
        assert sd._decode_full(raw) == fast


@FUZZ
@given(st.binary(min_size=codec.MAX_MESSAGE_SIZE + 1, max_size=codec.MAX_MESSAGE_SIZE + 64))
def test_fuzz_oversized_is_refused_unread(raw: bytes) -> None:
    for decode in DECODERS:
        with pytest.raises(V2xDecodeError) as info:
            decode(raw)
        assert info.value.size == len(raw)


# Found by the fuzz above: pycrate left a parent cycle in its shared type objects, and its
# next error message walked the cycle until memory ran out (minutes, then MemoryError).
PARENT_CYCLE = bytes.fromhex("50813d671646")


def test_invalid_parent_cycle_input_is_a_quick_typed_error() -> None:
    with pytest.raises(V2xDecodeError):
        codec.decode_ieee1609dot2_data(PARENT_CYCLE)
    assert all(obj._parent is parent for obj, parent in codec._PARENTS)
    with pytest.raises(V2xDecodeError):
        decode_signed_data(PARENT_CYCLE)
    assert decode_signed_data(SIGNED["digest"]).payload == CAM  # later decodes unaffected
    assert sd._decode_full(SIGNED["certificate"]) == decode_signed_data(SIGNED["certificate"])


def test_failed_decodes_restore_the_type_objects() -> None:
    for raw in (PARENT_CYCLE, SIGNED["certificate"][:-70], b"\x03\x81\x00\x40\x03\x80\x05"):
        with pytest.raises(V2xDecodeError):
            codec.decode_ieee1609dot2_data(raw)
        assert all(obj._parent is parent for obj, parent in codec._PARENTS)
