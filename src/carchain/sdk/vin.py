"""VINs and the commitment to them that goes on chain instead.

A VIN is validated as ISO 3779 describes it: 17 characters, digits and capital
letters except I, O and Q. Position 9 is a check digit (the ISO 3779 / 49 CFR
565 algorithm: transliterate, weight, sum mod 11, 10 written ``X``) where the
region makes it mandatory. ``CheckDigit.AUTO`` applies it by the first
character of the WMI: North America (``1``-``5``, FMVSS 565) and China (``L``,
GB 16735); Europe, Japan and the rest leave position 9 free, so it is not
checked there. ``REQUIRED`` and ``SKIP`` override the region.

The commitment is ``sha256(b"carchain/vin-commitment/v1\\x00" || salt || VIN)``
with a salt of exactly 32 random bytes and the 17-character VIN: every part has
a fixed length, so one commitment opens to one (salt, VIN) pair only.
"""

from __future__ import annotations

import hmac
import os
import re
from enum import StrEnum

from carchain.crypto.hashing import compute_sha256
from carchain.errors import InvalidBody, InvalidVin, VinCommitmentMismatch

VIN_LENGTH = 17
VIN_SALT_SIZE = 32
VIN_COMMITMENT_DOMAIN = b"carchain/vin-commitment/v1\x00"
CHECK_DIGIT_INDEX = 8  # position 9
_VIN_RE = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
# First WMI characters of the regions whose rules make position 9 a check digit.
CHECK_DIGIT_REGIONS = frozenset("12345L")


class CheckDigit(StrEnum):
    """Whether to check the VIN's check digit at position 9."""

    AUTO = "auto"  # where the region (by WMI) requires it
    REQUIRED = "required"
    SKIP = "skip"


def compute_vin_check_digit(vin: str) -> str:
    """Return the check digit (``0``-``9`` or ``X``) of a 17-character ISO 3779 VIN."""
    validate_vin(vin, CheckDigit.SKIP)
    total = sum(_VALUES[c] * w for c, w in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def compute_vin_with_check_digit(vin: str) -> str:
    """Return ``vin`` normalised, with position 9 set to its check digit."""
    vin = compute_normalised_vin(vin)
    digit = compute_vin_check_digit(vin)
    return vin[:CHECK_DIGIT_INDEX] + digit + vin[CHECK_DIGIT_INDEX + 1 :]


def compute_normalised_vin(vin: str) -> str:
    """Return ``vin`` without surrounding spaces, in capitals (what the commitment covers)."""
    return vin.strip().upper()


def is_check_digit_region(vin: str) -> bool:
    """Return whether the VIN's WMI is in a region where position 9 is a check digit."""
    return vin[:1] in CHECK_DIGIT_REGIONS


def validate_vin(vin: str, check_digit: CheckDigit = CheckDigit.AUTO) -> None:
    """Raise ``InvalidVin`` unless ``vin`` is a valid ISO 3779 VIN (already normalised)."""
    if len(vin) != VIN_LENGTH:
        raise InvalidVin(f"a VIN has {VIN_LENGTH} characters", length=len(vin))
    if not _VIN_RE.fullmatch(vin):
        raise InvalidVin("a VIN holds only digits and capital letters other than I, O and Q")
    wanted = check_digit == CheckDigit.REQUIRED or (
        check_digit == CheckDigit.AUTO and is_check_digit_region(vin)
    )
    if wanted and vin[CHECK_DIGIT_INDEX] != compute_vin_check_digit(vin):
        raise InvalidVin(
            "the VIN's check digit (position 9) is wrong",
            expected=compute_vin_check_digit(vin),
        )


def compute_vin_salt() -> bytes:
    """Return a fresh random salt for a VIN commitment (keep it with the VIN, off chain)."""
    return os.urandom(VIN_SALT_SIZE)


def compute_vin_commitment(
    vin: str, salt: bytes, check_digit: CheckDigit = CheckDigit.AUTO
) -> bytes:
    """Return the commitment to ``vin`` under ``salt`` that goes on chain instead of the VIN.

    Raises ``InvalidVin`` for a bad VIN and ``InvalidBody`` for a salt that is not
    exactly 32 bytes.
    """
    if len(salt) != VIN_SALT_SIZE:
        raise InvalidBody(f"the VIN salt must be exactly {VIN_SALT_SIZE} bytes", length=len(salt))
    vin = compute_normalised_vin(vin)
    validate_vin(vin, check_digit)
    return compute_sha256(VIN_COMMITMENT_DOMAIN + salt + vin.encode("ascii"))


def verify_vin_commitment(commitment: bytes, vin: str, salt: bytes) -> None:
    """Raise ``VinCommitmentMismatch`` unless ``(salt, vin)`` opens ``commitment``."""
    if not hmac.compare_digest(
        compute_vin_commitment(vin, salt, CheckDigit.SKIP), bytes(commitment)
    ):
        raise VinCommitmentMismatch("this VIN and salt do not open the vehicle's VIN commitment")
