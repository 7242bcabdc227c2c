"""The receiver: a good CAM or DENM verifies (certificate signer, then digest from the
cache), and every rejection reason has a test that provokes exactly it."""

from __future__ import annotations

import pytest

from carchain.crypto.ecdsa import P256SigningKey
from carchain.errors import V2xDecodeError, V2xRejected
from carchain.v2x import certificates, codec
from carchain.v2x.certificates import (
    PSID_CAM,
    PSID_DENM,
    LinkageData,
    build_ca_certificate,
    build_pseudonym_certificate,
)
from carchain.v2x.messages import build_cam_value, build_denm_value
from carchain.v2x.receiver import Receiver, RejectReason
from carchain.v2x.signed_data import build_signed_data
from carchain.v2x.trust import LinkageValueSet, StaticTrustStore, compute_ca_record
from tests.v2x.conftest import LINKAGE, NOW_MS, START_S, Pki, make_pki
from tests.v2x.test_certificates import _uncompressed_variant

CAM = codec.encode_cam(build_cam_value(4242, NOW_MS))


def make_receiver(pki: Pki, revoked: LinkageValueSet | None = None, **kw: object) -> Receiver:
    trust = StaticTrustStore([compute_ca_record(pki.ca_cert)])
    return Receiver(trust, revoked or LinkageValueSet(), lambda: NOW_MS, **kw)  # type: ignore[arg-type]


def sign(pki: Pki, signer: str = "certificate", at_ms: int = NOW_MS, psid: int = PSID_CAM) -> bytes:
    return build_signed_data(CAM, psid, at_ms, pki.key, pki.cert, signer)


def reject(receiver: Receiver, raw: bytes) -> str:
    with pytest.raises(V2xRejected) as info:
        receiver.verify(raw)
    assert info.value.reason is not None
    return info.value.reason


def test_certificate_then_digest_signer(pki: Pki) -> None:
    receiver = make_receiver(pki)
    first = receiver.verify(sign(pki, "certificate"))
    assert first.certificate.linkage == LINKAGE and first.payload == CAM
    assert first.decode_payload()["header"]["stationID"] == 4242
    later = receiver.verify(sign(pki, "digest", NOW_MS - 100))
    assert later.signer_kind == "digest" and later.generation_ms == NOW_MS - 100
    assert len(receiver.cache) == 1


def test_denm_verifies_and_decodes(pki: Pki) -> None:
    denm = codec.encode_denm(build_denm_value(7, NOW_MS, 399_000_000, 1_164_000_000))
    raw = build_signed_data(denm, PSID_DENM, NOW_MS, pki.key, pki.cert, "certificate")
    message = make_receiver(pki).verify(raw)
    assert message.decode_payload()["denm"]["situation"]["eventType"]["causeCode"] == 99


def test_invalid_digest_signer_unknown_until_certificate_seen(pki: Pki) -> None:
    assert reject(make_receiver(pki), sign(pki, "digest")) == RejectReason.UNKNOWN_SIGNER


def test_invalid_tampered_payload(pki: Pki) -> None:
    raw = bytearray(sign(pki))
    raw[raw.index(CAM) + 5] ^= 0x10
    assert reject(make_receiver(pki), bytes(raw)) == RejectReason.BAD_SIGNATURE


def test_invalid_tampered_signature_on_cached_signer(pki: Pki) -> None:
    receiver = make_receiver(pki)
    receiver.verify(sign(pki))
    raw = bytearray(sign(pki, "digest", NOW_MS - 1))
    raw[-1] ^= 0x01
    assert reject(receiver, bytes(raw)) == RejectReason.BAD_SIGNATURE


def test_invalid_expired_certificate() -> None:
    pki = make_pki(start_s=START_S - 2 * 3_600, hours=1)  # ended an hour before NOW
    assert reject(make_receiver(pki), sign(pki)) == RejectReason.CERTIFICATE_EXPIRED


def test_invalid_not_yet_valid_certificate() -> None:
    pki = make_pki(start_s=START_S + 2 * 3_600)
    assert reject(make_receiver(pki), sign(pki)) == RejectReason.CERTIFICATE_NOT_YET_VALID


def test_invalid_cached_certificate_expires_later(pki: Pki) -> None:
    receiver = make_receiver(pki)
    receiver.verify(sign(pki))
    late_ms = (START_S + 168 * 3_600) * 1000
    raw = sign(pki, "digest", late_ms)
    with pytest.raises(V2xRejected) as info:
        receiver.verify_at(raw, late_ms)
    assert info.value.reason == RejectReason.CERTIFICATE_EXPIRED


def test_invalid_unknown_ca(pki: Pki) -> None:
    other = make_pki()
    assert reject(make_receiver(other), sign(pki)) == RejectReason.UNKNOWN_CA


def test_invalid_revoked_ca(pki: Pki) -> None:
    trust = StaticTrustStore([compute_ca_record(pki.ca_cert, status="revoked")])
    receiver = Receiver(trust, LinkageValueSet(), lambda: NOW_MS)
    assert reject(receiver, sign(pki)) == RejectReason.REVOKED_CA


def test_invalid_ca_revoked_after_caching(pki: Pki) -> None:
    trust = StaticTrustStore([compute_ca_record(pki.ca_cert)])
    receiver = Receiver(trust, LinkageValueSet(), lambda: NOW_MS)
    receiver.verify(sign(pki))
    trust.add(compute_ca_record(pki.ca_cert, status="revoked"))
    assert reject(receiver, sign(pki, "digest", NOW_MS - 1)) == RejectReason.REVOKED_CA


def test_invalid_certificate_not_signed_by_the_ca(pki: Pki) -> None:
    rogue_key = P256SigningKey.generate()  # signs with another key, names the real CA
    cert = build_pseudonym_certificate(
        pki.ca_cert, rogue_key, pki.key.public_key_compressed, START_S, 168, [PSID_CAM], LINKAGE
    )
    raw = build_signed_data(CAM, PSID_CAM, NOW_MS, pki.key, cert, "certificate")
    assert reject(make_receiver(pki), raw) == RejectReason.INVALID_CERTIFICATE


def test_invalid_ca_certificate_as_message_signer(pki: Pki) -> None:
    raw = build_signed_data(CAM, PSID_CAM, NOW_MS, pki.ca_key, pki.ca_cert, "certificate")
    assert reject(make_receiver(pki), raw) == RejectReason.INVALID_CERTIFICATE


def test_invalid_psid_beyond_the_cas_permissions() -> None:
    ca_key = P256SigningKey.generate()
    ca_cert = build_ca_certificate(ca_key, [PSID_CAM], START_S - 86_400, 24 * 365)
    key = P256SigningKey.generate()
    cert = build_pseudonym_certificate(
        ca_cert, ca_key, key.public_key_compressed, START_S, 168, [PSID_CAM, PSID_DENM], LINKAGE
    )
    raw = build_signed_data(CAM, PSID_CAM, NOW_MS, key, cert, "certificate")
    assert reject(make_receiver(Pki(ca_key, ca_cert, key, cert)), raw) == (
        RejectReason.INVALID_CERTIFICATE
    )


def test_invalid_wrong_psid(pki: Pki) -> None:
    assert reject(make_receiver(pki), sign(pki, psid=99)) == RejectReason.WRONG_PSID
    only_cam = make_receiver(pki, psids=frozenset({PSID_CAM}))
    assert reject(only_cam, sign(pki, psid=PSID_DENM)) == RejectReason.WRONG_PSID


def test_invalid_psid_not_in_the_certificate() -> None:
    ca_key = P256SigningKey.generate()
    ca_cert = build_ca_certificate(ca_key, [PSID_CAM, PSID_DENM], START_S - 86_400, 24 * 365)
    key = P256SigningKey.generate()
    cert = build_pseudonym_certificate(
        ca_cert, ca_key, key.public_key_compressed, START_S, 168, [PSID_CAM], LINKAGE
    )
    raw = build_signed_data(CAM, PSID_DENM, NOW_MS, key, cert, "certificate")
    receiver = make_receiver(Pki(ca_key, ca_cert, key, cert))
    assert reject(receiver, raw) == RejectReason.CERTIFICATE_PSID


def test_invalid_replay_outside_the_window(pki: Pki) -> None:
    receiver = make_receiver(pki)
    assert reject(receiver, sign(pki, at_ms=NOW_MS - 2_001)) == RejectReason.OUTSIDE_TIME_WINDOW
    assert reject(receiver, sign(pki, at_ms=NOW_MS + 1_000)) == RejectReason.OUTSIDE_TIME_WINDOW
    receiver.verify(sign(pki, at_ms=NOW_MS - 2_000))  # the edge of the window is inside


def test_invalid_replay_of_an_accepted_message(pki: Pki) -> None:
    receiver = make_receiver(pki)
    raw = sign(pki)
    receiver.verify(raw)
    assert reject(receiver, raw) == RejectReason.REPLAY
    with pytest.raises(V2xRejected) as info:  # and later, outside the window
        receiver.verify_at(raw, NOW_MS + 10_000)
    assert info.value.reason == RejectReason.OUTSIDE_TIME_WINDOW


def test_invalid_revoked_linkage_value(pki: Pki) -> None:
    revoked = LinkageValueSet([(LINKAGE.linkage_value, LINKAGE.i_cert)])
    assert reject(make_receiver(pki, revoked), sign(pki)) == RejectReason.REVOKED_LINKAGE


def test_revocation_is_per_period(pki: Pki) -> None:
    other_period = LinkageValueSet([(LINKAGE.linkage_value, LINKAGE.i_cert + 1)])
    make_receiver(pki, other_period).verify(sign(pki))


def test_invalid_revoked_after_caching(pki: Pki) -> None:
    revoked = LinkageValueSet()
    receiver = make_receiver(pki, revoked)
    receiver.verify(sign(pki))
    revoked.add(LINKAGE.linkage_value, LINKAGE.i_cert)
    assert reject(receiver, sign(pki, "digest", NOW_MS - 1)) == RejectReason.REVOKED_LINKAGE


def test_invalid_certificate_without_linkage_data(pki: Pki) -> None:
    """An end-entity certificate the CA signed but without linkageData cannot be revoked."""
    value = codec.decode_certificate_value(pki.cert)
    tbs = value["toBeSigned"]
    tbs["id"] = ("none", 0)
    cert = certificates._sign_certificate(tbs, value["issuer"], pki.ca_cert, pki.ca_key)
    raw = build_signed_data(CAM, PSID_CAM, NOW_MS, pki.key, cert, "certificate")
    assert reject(make_receiver(pki), raw) == RejectReason.INVALID_CERTIFICATE
    other = make_pki(linkage=LinkageData(1, b"\x00" * 9))  # a zero value is still linkage data
    make_receiver(other).verify(sign(other))


@pytest.mark.parametrize("raw", [b"", b"\x03", b"\x00" * 50, b"\x03\x81\x00" + b"\xff" * 90])
def test_invalid_malformed(pki: Pki, raw: bytes) -> None:
    assert reject(make_receiver(pki), raw) == RejectReason.MALFORMED


def test_invalid_truncated(pki: Pki) -> None:
    raw = sign(pki)
    receiver = make_receiver(pki)
    for cut in (1, 30, len(raw) // 2, len(raw) - 1):
        assert reject(receiver, raw[:-cut]) == RejectReason.MALFORMED


def test_invalid_oversized(pki: Pki) -> None:
    raw = sign(pki) + b"\x00" * codec.MAX_MESSAGE_SIZE
    assert reject(make_receiver(pki), raw) == RejectReason.OVERSIZED


def test_invalid_trailing_garbage(pki: Pki) -> None:
    assert reject(make_receiver(pki), sign(pki) + b"\x00") == RejectReason.MALFORMED


def test_invalid_unsigned_message(pki: Pki) -> None:
    raw = codec.encode_ieee1609dot2_data({"protocolVersion": 3, "content": ("unsecuredData", CAM)})
    assert reject(make_receiver(pki), raw) == RejectReason.MALFORMED


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def test_invalid_replay_with_the_other_signer_form_or_a_malleated_signature(pki: Pki) -> None:
    receiver = make_receiver(pki)
    receiver.verify(sign(pki, "certificate"))
    same_content = sign(pki, "digest")  # same tbsData (payload, PSID, time), other signer form
    assert reject(receiver, same_content) == RejectReason.REPLAY
    other = make_receiver(pki)
    raw = sign(pki, "certificate", NOW_MS - 5)
    other.verify(raw)
    s = int.from_bytes(raw[-32:], "big")
    twin = raw[:-32] + (P256_ORDER - s).to_bytes(32, "big")  # (r, n - s) verifies too
    assert reject(other, twin) == RejectReason.REPLAY


def test_signer_certificate_sent_non_canonical_is_canonicalised_before_hashing(pki: Pki) -> None:
    """A sender's stack may send its certificate with an uncompressed key: 1609.2 hashes the
    canonical form, for the message signature and the HashedId8 a later digest names."""
    variant = _uncompressed_variant(pki.cert)
    raw = sign(pki, "certificate")
    sent = raw.replace(pki.cert, variant)
    assert sent != raw and variant in sent
    receiver = make_receiver(pki)
    message = receiver.verify(sent)
    assert message.certificate.raw == pki.cert
    receiver.verify(sign(pki, "digest", NOW_MS - 3))  # the digest of the canonical form


def _with_fill_r(raw: bytes) -> bytes:
    """``raw`` with its trailing signature's rSig as ``fill`` (NULL, no r): 0x80 0x81 sSig."""
    return raw[:-66] + bytes([raw[-66], 0x81]) + raw[-32:]


@pytest.mark.parametrize("signer", ["digest", "certificate"])
def test_invalid_message_signature_rsig_fill_is_malformed(pki: Pki, signer: str) -> None:
    # a NULL rSig decoded as 0 and was concatenated to bytes: a TypeError escaped verify()
    receiver = make_receiver(pki)
    receiver.admit_certificate(pki.cert)
    raw = _with_fill_r(sign(pki, signer))
    assert codec.decode_ieee1609dot2_data(raw)["content"][1]["signature"][1]["rSig"][0] == "fill"
    assert reject(receiver, raw) == RejectReason.MALFORMED


def test_invalid_certificate_rsig_fill_is_malformed(pki: Pki) -> None:
    raw = sign(pki, "certificate")
    cert = _with_fill_r(pki.cert)
    assert reject(make_receiver(pki), raw.replace(pki.cert, cert)) == RejectReason.MALFORMED


def test_invalid_certificate_key_off_the_curve_is_malformed(pki: Pki) -> None:
    # an uncompressed key not on P-256: canonicalisation raised InvalidSignature, which
    # escaped Receiver.verify (not a V2xRejected) and decode_certificate (not a decode error)
    value = codec.decode_certificate_value(_uncompressed_variant(pki.cert))
    value["toBeSigned"]["verifyKeyIndicator"][1][1][1]["y"] = bytes(32)
    bad = codec.encode_certificate(value)
    with pytest.raises(V2xDecodeError):
        certificates.decode_certificate(bad)
    raw = sign(pki, "certificate")
    assert reject(make_receiver(pki), raw.replace(pki.cert, bad)) == RejectReason.MALFORMED
    with pytest.raises(V2xRejected):
        make_receiver(pki).admit_certificate(bad)


def _ca_with_permissions(app: list[int] | None, issue: list[int]) -> Pki:
    """A CA whose appPermissions and certIssuePermissions differ, and a CAM+DENM pseudonym."""
    ca_key = P256SigningKey.generate()
    value = codec.decode_certificate_value(
        build_ca_certificate(ca_key, issue, START_S - 86_400, 24 * 365)
    )
    tbs = value["toBeSigned"]
    if app is None:
        del tbs["appPermissions"]
    else:
        tbs["appPermissions"] = [{"psid": p} for p in app]
    ca_cert = certificates._sign_certificate(tbs, ("self", "sha256"), b"", ca_key)
    key = P256SigningKey.generate()
    cert = build_pseudonym_certificate(
        ca_cert, ca_key, key.public_key_compressed, START_S, 168, [PSID_CAM, PSID_DENM], LINKAGE
    )
    return Pki(ca_key, ca_cert, key, cert)


def test_invalid_psid_beyond_the_cas_issue_permissions() -> None:
    # the receiver compared with the CA's own appPermissions: a CA allowed to issue CAM
    # only, but listing DENM among its appPermissions, issued DENM pseudonyms
    pki = _ca_with_permissions([PSID_CAM, PSID_DENM], [PSID_CAM])
    assert reject(make_receiver(pki), sign(pki)) == RejectReason.INVALID_CERTIFICATE


def test_ca_without_app_permissions_issues_by_its_issue_permissions() -> None:
    pki = _ca_with_permissions(None, [PSID_CAM, PSID_DENM])
    assert certificates.decode_certificate(pki.ca_cert).psids == ()
    make_receiver(pki).verify(sign(pki))
