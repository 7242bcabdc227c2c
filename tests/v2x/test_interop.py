"""Interoperability: an independent decoder (asn1tools, compiled from the standards' .asn
text in tests/v2x/asn1/) decodes our bytes to the same values and re-encodes them to the
same bytes; signed CAMs captured from other stacks decode and verify (tests/v2x/captures/)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import asn1tools
import pytest

from carchain.crypto.ecdsa import verify_p256
from carchain.errors import InvalidSignature, V2xRejected
from carchain.v2x import codec
from carchain.v2x.certificates import PSID_CAM, PSID_DENM, compute_hashed_id8, decode_certificate
from carchain.v2x.its_time import compute_unix_ms
from carchain.v2x.messages import build_cam_value, build_denm_value
from carchain.v2x.receiver import Receiver, RejectReason
from carchain.v2x.signed_data import build_signed_data, decode_signed_data
from carchain.v2x.trust import LinkageValueSet, StaticTrustStore, compute_ca_record
from tests.v2x.conftest import NOW_MS, Pki

ASN1 = Path(__file__).parent / "asn1"
CAPTURES = Path(__file__).parent / "captures"
GN_BASIC_HEADER = 4  # bytes before the secured packet
GN_AND_BTP_HEADERS = 40  # common (8) + single-hop broadcast (28) + BTP-B (4), before the CAM


@pytest.fixture(scope="module")
def its_uper() -> Any:
    """CAM and DENM with ITS-Container, compiled by asn1tools for UPER."""
    names = ["ITS-Container.asn", "CAM-PDU-Descriptions.asn", "DENM-PDU-Descriptions.asn"]
    return asn1tools.compile_files([str(ASN1 / n) for n in names], "uper")


@pytest.fixture(scope="module")
def dot2_oer() -> Any:
    """IEEE 1609.2 and the TS 103 097 extension module, compiled by asn1tools for OER."""
    names = ["Ieee1609Dot2BaseTypes.asn", "Ieee1609Dot2.asn", "EtsiTs103097ExtensionModule.asn"]
    return asn1tools.compile_files([str(ASN1 / n) for n in names], "oer")


NAMED_DEFAULTS = {"defaultValidity": 600}  # asn1tools fills a DEFAULT with its name


def normalise(value: Any) -> Any:
    """Map the two libraries' value conventions to one (not their encodings, which must agree).

    NULL is ``0`` in pycrate and ``None`` in asn1tools; a BIT STRING is ``(int, bits)`` in
    pycrate and ``(bytes, bits)`` in asn1tools, which also drops trailing zero bits of a
    named bit string: both become the set of the positions that are 1.
    """
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, tuple) and len(value) == 2:
        head, tail = value
        if isinstance(head, str):
            return (head, normalise(tail))
        if isinstance(head, int) and isinstance(tail, int):
            return frozenset(i for i in range(tail) if (head >> (tail - 1 - i)) & 1)
        if isinstance(head, bytes) and isinstance(tail, int):
            return frozenset(i for i in range(tail) if (head[i // 8] >> (7 - i % 8)) & 1)
    if value is None:
        return 0
    if isinstance(value, str):
        return NAMED_DEFAULTS.get(value, value)
    return value


def load_capture(name: str) -> bytes:
    return bytes.fromhex((CAPTURES / f"{name}.hex").read_text().strip())[GN_BASIC_HEADER:]


def test_asn1tools_decodes_our_cam_identically(its_uper: Any) -> None:
    raw = codec.encode_cam(build_cam_value(4242, NOW_MS))
    theirs = its_uper.decode("CAM", raw)
    assert normalise(theirs) == normalise(codec.decode_cam(raw))
    assert its_uper.encode("CAM", theirs) == raw


def test_asn1tools_decodes_our_denm_identically(its_uper: Any) -> None:
    raw = codec.encode_denm(build_denm_value(9, NOW_MS, 480_000_000, 23_000_000, cause=97))
    theirs = its_uper.decode("DENM", raw)
    assert normalise(theirs) == normalise(codec.decode_denm(raw))
    assert its_uper.encode("DENM", theirs) == raw


@pytest.mark.parametrize("signer", ["digest", "certificate"])
def test_asn1tools_decodes_our_signed_cam_identically(
    dot2_oer: Any, its_uper: Any, pki: Pki, signer: str
) -> None:
    cam = codec.encode_cam(build_cam_value(4242, NOW_MS))
    raw = build_signed_data(cam, PSID_CAM, NOW_MS, pki.key, pki.cert, signer)
    theirs = dot2_oer.decode("Ieee1609Dot2Data", raw)
    assert normalise(theirs) == normalise(codec.decode_ieee1609dot2_data(raw))
    assert dot2_oer.encode("Ieee1609Dot2Data", theirs) == raw
    signed = theirs["content"][1]
    assert signed["tbsData"]["headerInfo"]["psid"] == PSID_CAM
    inner = signed["tbsData"]["payload"]["data"]["content"][1]
    assert its_uper.decode("CAM", inner)["header"]["stationID"] == 4242
    # the signature checks out from asn1tools' view too: its tbsData bytes are ours
    tbs = dot2_oer.encode("ToBeSignedData", signed["tbsData"])
    assert tbs == decode_signed_data(raw).tbs


def test_asn1tools_decodes_our_certificates_identically(dot2_oer: Any, pki: Pki) -> None:
    for cert in (pki.ca_cert, pki.cert):
        theirs = dot2_oer.decode("CertificateBase", cert)
        assert normalise(theirs) == normalise(codec.decode_certificate_value(cert))
        assert dot2_oer.encode("CertificateBase", theirs) == cert
    linkage = dot2_oer.decode("CertificateBase", pki.cert)["toBeSigned"]["id"]
    assert linkage[0] == "linkageData" and len(linkage[1]["linkage-value"]) == 9


def test_cohda_certificate_cam_decodes_and_verifies(its_uper: Any, dot2_oer: Any) -> None:
    raw = load_capture("cohda_cam_certificate")
    message = decode_signed_data(raw)
    assert message.signer_kind == "certificate" and message.psid == PSID_CAM
    ours = codec.decode_ieee1609dot2_data(raw)
    assert normalise(dot2_oer.decode("Ieee1609Dot2Data", raw)) == normalise(ours)
    cert = decode_certificate(message.signer_certificates[0])
    assert cert.linkage is None and PSID_CAM in cert.psids
    verify_p256(cert.public_key, message.compute_digest(cert.raw), message.r, message.s)
    assert message.payload is not None
    cam_raw = message.payload[GN_AND_BTP_HEADERS:]
    cam = codec.decode_cam(cam_raw)
    assert normalise(cam) == normalise(its_uper.decode("CAM", cam_raw))
    assert cam["header"]["messageID"] == 2 and cam["header"]["stationID"] == 2121614627


def test_cohda_digest_cam_names_the_certificate_and_verifies() -> None:
    """The digest capture's HashedId8 equals ours over the (canonical) captured certificate."""
    certified = decode_signed_data(load_capture("cohda_cam_certificate"))
    cert_raw = certified.signer_certificates[0]
    message = decode_signed_data(load_capture("cohda_cam_digest"))
    assert message.signer_kind == "digest"
    assert message.signer_digest == compute_hashed_id8(cert_raw)
    assert message.signer_digest == hashlib.sha256(cert_raw).digest()[-8:]
    cert = decode_certificate(cert_raw)
    verify_p256(cert.public_key, message.compute_digest(cert.raw), message.r, message.s)
    with pytest.raises(InvalidSignature):  # it really is this message's signature
        verify_p256(cert.public_key, certified.compute_digest(cert.raw), message.r, message.s)


def test_brainpool_capture_decodes_and_is_refused_with_a_reason(dot2_oer: Any) -> None:
    raw = load_capture("brainpool_cam_certificate")
    ours = codec.decode_ieee1609dot2_data(raw)
    assert normalise(dot2_oer.decode("Ieee1609Dot2Data", raw)) == normalise(ours)
    receiver = Receiver(StaticTrustStore(), LinkageValueSet(), lambda: 0)
    with pytest.raises(V2xRejected) as info:
        receiver.verify(raw)
    assert info.value.reason == RejectReason.MALFORMED  # Brainpool signatures: not our profile


def test_captured_cam_is_refused_for_its_unknown_ca(pki: Pki) -> None:
    raw = load_capture("cohda_cam_certificate")
    generation_ms = decode_signed_data(raw).generation_ms
    assert generation_ms is not None
    trust = StaticTrustStore([compute_ca_record(pki.ca_cert)])
    receiver = Receiver(trust, LinkageValueSet(), lambda: generation_ms)
    with pytest.raises(V2xRejected) as info:
        receiver.verify(raw)
    assert info.value.reason == RejectReason.INVALID_CERTIFICATE  # no linkageData: not a pseudonym
    assert compute_unix_ms(0) < generation_ms


def test_denm_psid_constant_matches_etsi() -> None:
    assert (PSID_CAM, PSID_DENM) == (36, 37)
