"""Data category names as the chain rules speak them (grants, requests, releases).

The core cannot import the data plane (``carchain.data`` sits above it), so the
names and the sensitive set are listed here; a test keeps them equal to
``carchain.data.categories.DataCategory``. Location, audio/video and biometrics
are sensitive personal information (2021 automobile data provisions, art. 3):
they need their own grant naming one recipient.
"""

from __future__ import annotations

from carchain.errors import InvalidBody

CATEGORY_NAMES: frozenset[str] = frozenset(
    {
        "time",
        "location",
        "motion",
        "vehicle_control",
        "occupant",
        "crash_pulse",
        "vehicle_status",
        "diagnostics",
        "v2x_peer",
        "v2x_message",
        "audio_video",
        "biometrics",
    }
)
SENSITIVE_CATEGORY_NAMES: frozenset[str] = frozenset({"location", "audio_video", "biometrics"})


def is_sensitive_category(category: str) -> bool:
    """Return whether ``category`` is sensitive personal information."""
    return category in SENSITIVE_CATEGORY_NAMES


def validate_categories(categories: list[str]) -> None:
    """Raise ``InvalidBody`` unless ``categories`` is a non-empty sorted unique list of names."""
    if not categories:
        raise InvalidBody("at least one data category is needed")
    unknown = [c for c in categories if c not in CATEGORY_NAMES]
    if unknown:
        raise InvalidBody("unknown data category", category=unknown[0][:64])
    if categories != sorted(set(categories)):
        raise InvalidBody("data categories must be sorted and unique")
