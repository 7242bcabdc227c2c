"""Shared V2X fixtures: an OEM pseudonym CA and one vehicle's pseudonym certificate."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from carchain.crypto.ecdsa import P256SigningKey
from carchain.v2x.certificates import (
    PSID_CAM,
    PSID_DENM,
    LinkageData,
    build_ca_certificate,
    build_pseudonym_certificate,
)

START_S = 1_780_000_000  # 2026-05-28
NOW_MS = (START_S + 3_600) * 1_000
LINKAGE = LinkageData(i_cert=7, linkage_value=bytes.fromhex("0102030405060708a9"))


@dataclass(frozen=True)
class Pki:
    """A CA (key, certificate) and one pseudonym (key, certificate) it issued."""

    ca_key: P256SigningKey
    ca_cert: bytes
    key: P256SigningKey
    cert: bytes


def make_pki(linkage: LinkageData = LINKAGE, start_s: int = START_S, hours: int = 168) -> Pki:
    """Return a fresh CA and a pseudonym certificate valid from ``start_s`` for ``hours``."""
    ca_key = P256SigningKey.generate()
    ca_cert = build_ca_certificate(ca_key, [PSID_CAM, PSID_DENM], START_S - 86_400, 24 * 365)
    key = P256SigningKey.generate()
    cert = build_pseudonym_certificate(
        ca_cert, ca_key, key.public_key_compressed, start_s, hours, [PSID_CAM, PSID_DENM], linkage
    )
    return Pki(ca_key, ca_cert, key, cert)


@pytest.fixture(scope="module")
def pki() -> Pki:
    """One CA and pseudonym for a test module."""
    return make_pki()
