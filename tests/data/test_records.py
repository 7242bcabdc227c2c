"""Records, categories and minimisation."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carchain.data.categories import SENSITIVE_CATEGORIES, DataCategory, is_sensitive
from carchain.data.minimisation import (
    DEFAULT_POLICY,
    FLEET_TELEMATICS_POLICY,
    Action,
    MinimisationPolicy,
    Rule,
    apply_policy,
    apply_policy_with_categories,
    compute_pseudonym,
)
from carchain.data.records import (
    RECORD_KINDS,
    RECORD_TYPES,
    Diagnostics,
    EdrEvent,
    Telemetry,
    V2xLog,
    compute_record_categories,
    decode_record,
    encode_record,
    get_record_kind,
)
from carchain.errors import InvalidBody

KEY = b"k" * 32
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
opt = st.none() | finite

telemetry = st.builds(
    Telemetry,
    st.none() | st.integers(0, 2**53),
    opt,
    opt,
    opt,
    opt,
    opt,
)
v2x = st.builds(
    V2xLog,
    st.none() | st.integers(0, 2**53),
    st.none() | st.sampled_from(["rx", "tx"]),
    st.none() | st.text(max_size=40),
    st.none() | st.text(max_size=8),
    st.none() | st.binary(max_size=32),
    opt,
    opt,
)
records = telemetry | v2x | st.builds(Diagnostics, st.integers(0, 2**40), st.lists(st.text()))


def edr() -> EdrEvent:
    return EdrEvent(
        event_time_ms=1_700_000_000_123,
        pre_crash_speed_kmh=[float(60 - k) for k in range(11)],
        service_brake=[k > 6 for k in range(11)],
        accelerator_pedal_pct=[10.0] * 11,
        engine_rpm=[2000] * 11,
        driver_seatbelt_buckled=True,
        abs_status="active",
        esc_status="off",
        delta_v_long_kmh=[-0.5 * k for k in range(26)],
        max_delta_v_long_kmh=-12.5,
        ignition_cycle_count=1234,
    )


@given(records)
def test_encoding_round_trips_canonically(record: Telemetry) -> None:
    raw = encode_record(record)
    assert decode_record(raw) == record
    assert encode_record(decode_record(raw)) == raw


def test_every_field_of_every_kind_has_a_category() -> None:
    assert set(RECORD_KINDS) == {"telemetry", "edr", "diagnostics", "v2x", "v2x_transfer"}
    for rtype in RECORD_TYPES:
        assert set(rtype.CATEGORIES) == set(rtype.__struct_fields__), rtype
        assert all(isinstance(c, DataCategory) for c in rtype.CATEGORIES.values())


def test_edr_event_carries_the_gb_39732_elements() -> None:
    names = set(EdrEvent.__struct_fields__)
    assert {
        "pre_crash_speed_kmh",
        "service_brake",
        "accelerator_pedal_pct",
        "engine_rpm",
        "driver_seatbelt_buckled",
        "abs_status",
        "esc_status",
        "delta_v_long_kmh",
        "max_delta_v_long_kmh",
        "ignition_cycle_count",
        "event_time_ms",
    } <= names
    assert decode_record(encode_record(edr())) == edr()
    assert get_record_kind(edr()) == "edr"


def test_location_audio_video_biometrics_are_sensitive() -> None:
    assert {
        DataCategory.LOCATION,
        DataCategory.AUDIO_VIDEO,
        DataCategory.BIOMETRICS,
    } == SENSITIVE_CATEGORIES
    assert is_sensitive("location") and not is_sensitive("motion")


def test_invalid_record_bytes_are_refused() -> None:
    with pytest.raises(InvalidBody):
        decode_record(b"\x93\xa3foo\x01\x02")
    with pytest.raises(InvalidBody):
        decode_record(msgspec.msgpack.encode(["telemetry", 1, 2.0]) + b"\x00")


def test_invalid_non_canonical_record_is_refused() -> None:
    # The same telemetry record with the time as a 64-bit int instead of the minimal form.
    canonical = encode_record(Telemetry(1, None, None, 5.0, None, None))
    noncanonical = canonical.replace(b"\x01", b"\xcf" + (1).to_bytes(8, "big"), 1)
    assert noncanonical != canonical
    with pytest.raises(InvalidBody):
        decode_record(noncanonical)


@given(records)
def test_default_policy_collects_nothing(record: Telemetry) -> None:
    assert apply_policy(record, DEFAULT_POLICY, KEY) is None


def test_coarsening_location_and_time() -> None:
    t = Telemetry(1_700_000_000_999, 31.2304567, 121.4737012, 54.3, 90.0, 0.1)
    out = apply_policy(t, FLEET_TELEMATICS_POLICY, KEY)
    assert isinstance(out, Telemetry)
    assert out.time_ms == 1_700_000_000_000
    assert (out.lat, out.lon) == (31.23, 121.474)
    assert (out.speed_kmh, out.heading_deg, out.accel_mps2) == (54.3, 90.0, 0.1)


@given(finite.filter(lambda x: abs(x) < 1e6), st.integers(0, 2**50))
def test_coarsened_values_lie_on_the_grid(lat: float, time_ms: int) -> None:
    policy = MinimisationPolicy(
        "p",
        {
            DataCategory.TIME: Rule(Action.COARSEN, 60_000),
            DataCategory.LOCATION: Rule(Action.COARSEN, 0.01),
        },
    )
    out = apply_policy(Telemetry(time_ms, lat, lat), policy, KEY)
    assert isinstance(out, Telemetry) and out.lat is not None and out.time_ms is not None
    assert out.time_ms % 60_000 == 0 and 0 <= time_ms - out.time_ms < 60_000
    assert abs(out.lat - lat) <= 0.005 + 1e-9
    assert round(out.lat, 2) == out.lat


@given(records)
def test_policy_with_categories_names_the_categories_left(record: Telemetry) -> None:
    for policy in (FLEET_TELEMATICS_POLICY, DEFAULT_POLICY):
        try:
            plain = apply_policy(record, policy, KEY)
        except OverflowError:  # a value too large for the grid fails the same way in both
            with pytest.raises(OverflowError):
                apply_policy_with_categories(record, policy, KEY)
            continue
        out = apply_policy_with_categories(record, policy, KEY)
        if out is None:
            assert plain is None
        else:
            assert out[0] == plain
            assert out[1] == {c.value for c in compute_record_categories(out[0])}


def test_invalid_coarsening_of_a_non_number_is_refused() -> None:
    policy = MinimisationPolicy("p", {DataCategory.V2X_MESSAGE: Rule(Action.COARSEN, 1.0)})
    with pytest.raises(InvalidBody):
        apply_policy_with_categories(V2xLog(5, "rx", "peer", "CAM"), policy, KEY)
    with pytest.raises(InvalidBody):
        apply_policy(V2xLog(5, "rx"), policy, KEY)


def test_dropping_a_category_removes_its_fields_only() -> None:
    policy = MinimisationPolicy("no-location", {DataCategory.MOTION: Rule(Action.COLLECT)})
    out = apply_policy(Telemetry(5, 31.2, 121.4, 50.0, 1.0, 0.0), policy, KEY)
    assert out == Telemetry(None, None, None, 50.0, 1.0, 0.0)


def test_record_with_only_time_left_is_not_sent() -> None:
    policy = MinimisationPolicy("time-only", {DataCategory.TIME: Rule(Action.COLLECT)})
    assert apply_policy(Telemetry(5, 31.2, 121.4, 50.0), policy, KEY) is None


def test_pseudonyms_are_stable_per_key_and_unlinkable_across_keys() -> None:
    log = V2xLog(1, "rx", "cert-0042", "BSM", b"h" * 32, 31.0, 121.0)
    a = apply_policy(log, FLEET_TELEMATICS_POLICY, KEY)
    b = apply_policy(log, FLEET_TELEMATICS_POLICY, KEY)
    c = apply_policy(log, FLEET_TELEMATICS_POLICY, b"other-key" * 4)
    assert isinstance(a, V2xLog) and isinstance(b, V2xLog) and isinstance(c, V2xLog)
    assert a.peer == b.peer == compute_pseudonym(KEY, "cert-0042")
    assert a.peer != c.peer and "cert-0042" not in (a.peer or "")


def test_record_categories_follow_the_fields_kept() -> None:
    policy = MinimisationPolicy("motion", {DataCategory.MOTION: Rule(Action.COLLECT)})
    out = apply_policy(Telemetry(5, 31.2, 121.4, 50.0), policy, KEY)
    assert out is not None
    assert compute_record_categories(out) == {DataCategory.MOTION}


def test_invalid_policy_step_is_refused() -> None:
    with pytest.raises(InvalidBody):
        MinimisationPolicy("bad", {DataCategory.LOCATION: Rule(Action.COARSEN, 0)})


def test_invalid_rule_for_the_field_type_is_refused() -> None:
    policy = MinimisationPolicy("bad", {DataCategory.V2X_MESSAGE: Rule(Action.COARSEN, 1)})
    with pytest.raises(InvalidBody):
        apply_policy(V2xLog(1, "rx", message_type="BSM"), policy, KEY)
