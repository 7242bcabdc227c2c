"""CAM and DENM values as pycrate takes them, and the kinematics a receiver reads back.

Units are the standard's (ETSI TS 102 894-2): latitude and longitude in tenths of a
microdegree, speed in cm/s, heading in tenths of a degree from north, altitude in cm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carchain.v2x.its_time import compute_generation_delta_time, compute_time64

STATION_PASSENGER_CAR = 5
_UNAVAILABLE_CONFIDENCE = {"semiMajorConfidence": 4095, "semiMinorConfidence": 4095}


@dataclass(frozen=True, slots=True)
class Kinematics:
    """Where a station says it is and how it moves (standard units, see the module)."""

    station_id: int
    latitude: int
    longitude: int
    speed_cm_s: int
    heading_decidegrees: int


def _reference_position(latitude: int, longitude: int) -> dict[str, Any]:
    return {
        "latitude": latitude,
        "longitude": longitude,
        "positionConfidenceEllipse": {**_UNAVAILABLE_CONFIDENCE, "semiMajorOrientation": 3601},
        "altitude": {"altitudeValue": 800001, "altitudeConfidence": "unavailable"},
    }


def _header(message_id: int, station_id: int) -> dict[str, Any]:
    return {"protocolVersion": 2, "messageID": message_id, "stationID": station_id}


def build_cam_value(
    station_id: int, generation_ms: int, kinematics: Kinematics | None = None
) -> dict[str, Any]:
    """Return a CAM (EN 302 637-2 v2) of a passenger car with a high-frequency container."""
    k = kinematics or Kinematics(station_id, 399_000_000, 1_164_000_000, 1_389, 900)
    high_frequency = {
        "heading": {"headingValue": k.heading_decidegrees, "headingConfidence": 10},
        "speed": {"speedValue": k.speed_cm_s, "speedConfidence": 100},
        "driveDirection": "forward",
        "vehicleLength": {
            "vehicleLengthValue": 45,
            "vehicleLengthConfidenceIndication": "noTrailerPresent",
        },
        "vehicleWidth": 18,
        "longitudinalAcceleration": {
            "longitudinalAccelerationValue": 0,
            "longitudinalAccelerationConfidence": 102,
        },
        "curvature": {"curvatureValue": 0, "curvatureConfidence": "unavailable"},
        "curvatureCalculationMode": "yawRateUsed",
        "yawRate": {"yawRateValue": 0, "yawRateConfidence": "unavailable"},
    }
    return {
        "header": _header(2, station_id),
        "cam": {
            "generationDeltaTime": compute_generation_delta_time(generation_ms),
            "camParameters": {
                "basicContainer": {
                    "stationType": STATION_PASSENGER_CAR,
                    "referencePosition": _reference_position(k.latitude, k.longitude),
                },
                "highFrequencyContainer": ("basicVehicleContainerHighFrequency", high_frequency),
            },
        },
    }


def build_denm_value(
    station_id: int, detection_ms: int, latitude: int, longitude: int, cause: int = 99
) -> dict[str, Any]:
    """Return a DENM (EN 302 637-3) for an event at a position (cause 99: dangerous situation)."""
    timestamp = compute_time64(detection_ms) // 1000
    return {
        "header": _header(1, station_id),
        "denm": {
            "management": {
                "actionID": {"originatingStationID": station_id, "sequenceNumber": 1},
                "detectionTime": timestamp,
                "referenceTime": timestamp,
                "eventPosition": _reference_position(latitude, longitude),
                "validityDuration": 600,  # the DEFAULT: not encoded, but decoded back
                "stationType": STATION_PASSENGER_CAR,
            },
            "situation": {
                "informationQuality": 4,
                "eventType": {"causeCode": cause, "subCauseCode": 0},
            },
        },
    }


def get_cam_kinematics(value: dict[str, Any]) -> Kinematics:
    """Return the station, position, speed and heading a decoded CAM states."""
    parameters = value["cam"]["camParameters"]
    position = parameters["basicContainer"]["referencePosition"]
    kind, high = parameters["highFrequencyContainer"]
    speed, heading = 16_383, 3_601  # "unavailable" for a road-side unit
    if kind == "basicVehicleContainerHighFrequency":
        speed, heading = high["speed"]["speedValue"], high["heading"]["headingValue"]
    return Kinematics(
        station_id=value["header"]["stationID"],
        latitude=position["latitude"],
        longitude=position["longitude"],
        speed_cm_s=speed,
        heading_decidegrees=heading,
    )
