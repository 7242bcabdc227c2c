"""VIN validation (ISO 3779, check digit by region) and the fixed-length VIN commitment."""

from __future__ import annotations

import hashlib

import pytest

from carchain.errors import InvalidBody, InvalidVin, VinCommitmentMismatch
from carchain.sdk.vin import (
    CheckDigit,
    compute_vin_check_digit,
    compute_vin_commitment,
    compute_vin_salt,
    validate_vin,
    verify_vin_commitment,
)

SALT = bytes(range(32))
CN_VIN = "LSVAX4181E2100001"  # China (GB 16735): check digit 1 at position 9
US_VIN = "1M8GDM9AXKP042788"  # the classic FMVSS 565 example: check digit X
EU_VIN = "WVWZZZ1JZ3W386752"  # Europe: position 9 is a free character (here Z)


def _with_position_9(vin: str, char: str) -> str:
    return vin[:8] + char + vin[9:]


def test_commitment_is_domain_tagged_over_fixed_length_salt_and_vin() -> None:
    expected = hashlib.sha256(b"carchain/vin-commitment/v1\x00" + SALT + CN_VIN.encode()).digest()
    assert compute_vin_commitment(CN_VIN, SALT) == expected
    # Normalised: case and surrounding spaces do not change the commitment.
    assert compute_vin_commitment(f"  {CN_VIN.lower()} ", SALT) == expected


def test_invalid_commitment_opens_to_one_pair_only() -> None:
    """The old salt||VIN hash let bytes move between salt and VIN; now every part is fixed."""
    commitment = compute_vin_commitment(CN_VIN, SALT)
    shifted_salt, shifted_vin = SALT + CN_VIN[:1].encode(), CN_VIN[1:]
    with pytest.raises(InvalidBody):
        compute_vin_commitment(shifted_vin, shifted_salt, CheckDigit.SKIP)
    with pytest.raises((InvalidBody, InvalidVin)):
        verify_vin_commitment(commitment, shifted_vin, shifted_salt)
    with pytest.raises((InvalidBody, InvalidVin)):
        verify_vin_commitment(commitment, CN_VIN + "0", SALT[:-1])
    verify_vin_commitment(commitment, CN_VIN, SALT)


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_invalid_salt_length(size: int) -> None:
    with pytest.raises(InvalidBody, match="32 bytes"):
        compute_vin_commitment(CN_VIN, b"s" * size)


def test_invalid_commitment_opening() -> None:
    commitment = compute_vin_commitment(CN_VIN, SALT)
    with pytest.raises(VinCommitmentMismatch):
        verify_vin_commitment(commitment, US_VIN, SALT)
    with pytest.raises(VinCommitmentMismatch):
        verify_vin_commitment(commitment, CN_VIN, bytes(32))
    with pytest.raises(VinCommitmentMismatch):
        verify_vin_commitment(b"\x00" * 32, CN_VIN, SALT)


def test_salts_are_fresh_and_32_bytes() -> None:
    a, b = compute_vin_salt(), compute_vin_salt()
    assert len(a) == len(b) == 32 and a != b


def test_check_digit_algorithm() -> None:
    assert compute_vin_check_digit(US_VIN) == "X"
    assert compute_vin_check_digit("11111111111111111") == "1"
    assert compute_vin_check_digit(CN_VIN) == "1"


@pytest.mark.parametrize("vin", [CN_VIN, US_VIN, EU_VIN, "11111111111111111", "JH4KA7650MC000000"])
def test_valid_vins(vin: str) -> None:
    validate_vin(vin)


@pytest.mark.parametrize(
    ("vin", "reason"),
    [
        ("", "17 characters"),
        (CN_VIN[:16], "17 characters"),
        (CN_VIN + "1", "17 characters"),
        ("LSVAX4181E210000I", "other than I, O and Q"),
        ("LSVAX4181E210000O", "other than I, O and Q"),
        ("LSVAX4181E210000Q", "other than I, O and Q"),
        ("lsvax4181e2100001", "other than I, O and Q"),  # validate_vin takes normalised VINs
        ("LSVAX4181E21000-1", "other than I, O and Q"),
        ("LSVAX4181E21000\u00e91", "other than I, O and Q"),
        (_with_position_9(CN_VIN, "2"), "check digit"),  # China requires it
        (_with_position_9(US_VIN, "0"), "check digit"),  # so does North America
        (_with_position_9("11111111111111111", "X"), "check digit"),
    ],
)
def test_invalid_vins(vin: str, reason: str) -> None:
    with pytest.raises(InvalidVin, match=reason):
        validate_vin(vin)
    if vin == vin.upper():  # what the commitment would normalise to is still invalid
        with pytest.raises(InvalidVin):
            compute_vin_commitment(vin, SALT)


def test_check_digit_by_region_or_flag() -> None:
    """AUTO checks position 9 where the region requires it; REQUIRED and SKIP override."""
    validate_vin(EU_VIN, CheckDigit.AUTO)  # Europe: no check digit
    with pytest.raises(InvalidVin, match="check digit"):
        validate_vin(EU_VIN, CheckDigit.REQUIRED)
    validate_vin(_with_position_9(EU_VIN, compute_vin_check_digit(EU_VIN)), CheckDigit.REQUIRED)
    bad_us = _with_position_9(US_VIN, "0")
    validate_vin(bad_us, CheckDigit.SKIP)
    with pytest.raises(InvalidVin):
        validate_vin(bad_us, CheckDigit.AUTO)
    # SKIP still enforces the ISO 3779 alphabet and length.
    with pytest.raises(InvalidVin):
        validate_vin("LSVAX4181E210000O", CheckDigit.SKIP)
