"""ITS time: IEEE 1609.2 ``Time32`` (seconds) and ``Time64`` (microseconds) of TAI since 2004.

The 1609.2 epoch is 2004-01-01 00:00:00 UTC and the count is TAI, so it runs ahead of
UTC by the leap seconds inserted since then (five: 2005, 2008, 2012, 2015, 2016).
"""

from __future__ import annotations

ITS_EPOCH_UNIX_S = 1_072_915_200  # 2004-01-01T00:00:00Z
LEAP_SECONDS_SINCE_2004 = 5


def compute_time32(unix_s: int) -> int:
    """Return the 1609.2 ``Time32`` for a Unix time in seconds."""
    return unix_s - ITS_EPOCH_UNIX_S + LEAP_SECONDS_SINCE_2004


def compute_unix_s(time32: int) -> int:
    """Return the Unix time in seconds of a 1609.2 ``Time32``."""
    return time32 + ITS_EPOCH_UNIX_S - LEAP_SECONDS_SINCE_2004


def compute_time64(unix_ms: int) -> int:
    """Return the 1609.2 ``Time64`` (microseconds) for a Unix time in milliseconds."""
    return (unix_ms - ITS_EPOCH_UNIX_S * 1000 + LEAP_SECONDS_SINCE_2004 * 1000) * 1000


def compute_unix_ms(time64: int) -> int:
    """Return the Unix time in milliseconds of a 1609.2 ``Time64``."""
    return time64 // 1000 + ITS_EPOCH_UNIX_S * 1000 - LEAP_SECONDS_SINCE_2004 * 1000


def compute_generation_delta_time(unix_ms: int) -> int:
    """Return a CAM's ``GenerationDeltaTime``: ITS milliseconds modulo 65 536 (EN 302 637-2)."""
    return (compute_time64(unix_ms) // 1000) % 65_536
