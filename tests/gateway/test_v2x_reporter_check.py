"""The relay's reporter check (no network: over the in-memory chain). The chain sees the
reporter certificate as bytes holding the key; the gateway decodes it and relays only
reports signed by a valid pseudonym that a CA of its own OEM registered on chain issued."""

from __future__ import annotations

import hashlib

import pytest

from carchain.core.misbehaviour import SubmitReport, compute_report_digest
from carchain.core.v2x_ca import RevokePseudonymCa
from carchain.crypto.ecdsa import P256SigningKey
from carchain.errors import InvalidV2xBody
from carchain.gateway.v2x_relay import validate_reporter
from carchain.v2x.certificates import decode_certificate
from carchain.v2x.issuance import PseudonymCredential
from carchain.v2x.misbehaviour import CarReport, seal_report
from tests.conftest import CHAIN_ID, seeded_key
from tests.core.v2x_world import carry, fake_certificate
from tests.v2x.scms_world import Scms, scms_fixture  # noqa: F401

EVIDENCE = b"\x03\x81offending"


def report(key: P256SigningKey, cert: bytes, observed_ms: int) -> SubmitReport:
    evidence_hash = hashlib.sha256(EVIDENCE).digest()
    digest = compute_report_digest(CHAIN_ID, evidence_hash, "position_jump", observed_ms, cert)
    r, s = key.sign_digest(digest)
    car = CarReport(EVIDENCE, "position_jump", observed_ms, cert, key.public_key_compressed, r, s)
    return seal_report(CHAIN_ID, car, [("mama", seeded_key("mama").public_key)])


def pseudonym(scms: Scms) -> tuple[PseudonymCredential, int]:
    cred = scms.issue([scms.car("reporter")])["saic:reporter"][0]
    return cred, scms.world.chain.now_ms // 1000


def test_a_pseudonym_of_the_oems_ca_is_relayed(scms: Scms) -> None:
    cred, now_s = pseudonym(scms)
    validate_reporter(scms.world.chain.state, "saic", report(cred.key, cred.certificate, 1), now_s)


def test_invalid_made_up_reporter_certificate(scms: Scms) -> None:
    # passes the chain's check (the key's x is in the bytes), so the OEM relayed it
    key = P256SigningKey.generate()
    body = report(key, fake_certificate(key, b"anyone"), 1)
    with pytest.raises(InvalidV2xBody):
        validate_reporter(scms.world.chain.state, "saic", body, scms.world.chain.now_ms // 1000)


def test_invalid_reporter_certificate_of_another_key_another_oem_or_time(scms: Scms) -> None:
    cred, now_s = pseudonym(scms)
    view = scms.world.chain.state
    other = P256SigningKey.generate()
    with pytest.raises(InvalidV2xBody):  # a real pseudonym, signed by someone else's key
        validate_reporter(view, "saic", report(other, cred.certificate, 1), now_s)
    body = report(cred.key, cred.certificate, 1)
    with pytest.raises(InvalidV2xBody):  # not this gateway's OEM's CA
        validate_reporter(view, "geely", body, now_s)
    end_s = decode_certificate(cred.certificate).end_s
    with pytest.raises(InvalidV2xBody):  # expired
        validate_reporter(view, "saic", body, end_s)
    carry(scms.world.chain, "geely", RevokePseudonymCa(scms.pca.hashed_id8, "compromised"))
    with pytest.raises(InvalidV2xBody):  # its CA revoked
        validate_reporter(scms.world.chain.state, "saic", body, now_s)


def test_invalid_ca_certificate_as_reporter(scms: Scms) -> None:
    body = report(scms.pca.ca_key, scms.pca.ca_certificate, 1)
    with pytest.raises(InvalidV2xBody):
        validate_reporter(scms.world.chain.state, "saic", body, scms.world.chain.now_ms // 1000)
