"""Data categories: what kind of information each record field carries.

Every field of every record kind names one category; minimisation policies and
(later) consent policies speak in categories, never in field names. Location,
audio/video and biometrics are sensitive personal information under China's
2021 Provisions on Automotive Data Security Management: separate consent, and
minimised by default.
"""

from __future__ import annotations

from enum import StrEnum


class DataCategory(StrEnum):
    """The category of a record field."""

    TIME = "time"
    LOCATION = "location"
    MOTION = "motion"
    VEHICLE_CONTROL = "vehicle_control"
    OCCUPANT = "occupant"
    CRASH_PULSE = "crash_pulse"
    VEHICLE_STATUS = "vehicle_status"
    DIAGNOSTICS = "diagnostics"
    V2X_PEER = "v2x_peer"
    V2X_MESSAGE = "v2x_message"
    AUDIO_VIDEO = "audio_video"
    BIOMETRICS = "biometrics"


SENSITIVE_CATEGORIES: frozenset[DataCategory] = frozenset(
    {DataCategory.LOCATION, DataCategory.AUDIO_VIDEO, DataCategory.BIOMETRICS}
)
CATEGORY_NAMES: frozenset[str] = frozenset(c.value for c in DataCategory)


def is_sensitive(category: DataCategory | str) -> bool:
    """Return whether a category is sensitive personal information."""
    return DataCategory(category) in SENSITIVE_CATEGORIES
