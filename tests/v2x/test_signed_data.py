"""1609.2 SignedData: build and parse round trips for both signers, the fast and full
parsers agree, tbsData is hashed exactly as received (a non-canonical but decodable
encoding still verifies, a re-encoding would not), and malformed input is a typed error."""

from __future__ import annotations

import pytest

from carchain.crypto.ecdsa import verify_p256
from carchain.errors import InvalidSignature, V2xDecodeError
from carchain.v2x import codec
from carchain.v2x import signed_data as sd
from carchain.v2x.certificates import PSID_CAM, compute_hashed_id8, compute_signing_digest
from carchain.v2x.its_time import compute_time64
from carchain.v2x.signed_data import build_signed_data, decode_signed_data
from tests.v2x.conftest import NOW_MS, Pki

PAYLOAD = bytes(range(40))


@pytest.mark.parametrize("signer", ["digest", "certificate"])
def test_round_trip(pki: Pki, signer: str) -> None:
    raw = build_signed_data(PAYLOAD, PSID_CAM, NOW_MS, pki.key, pki.cert, signer)
    msg = decode_signed_data(raw)
    assert (msg.psid, msg.generation_ms, msg.payload, msg.signer_kind) == (
        PSID_CAM,
        NOW_MS,
        PAYLOAD,
        signer,
    )
    if signer == "digest":
        assert msg.signer_digest == compute_hashed_id8(pki.cert) and not msg.signer_certificates
    else:
        assert msg.signer_certificates == (pki.cert,) and msg.signer_digest is None
    verify_p256(pki.key.public_key_compressed, msg.compute_digest(pki.cert), msg.r, msg.s)
    assert msg == sd._decode_full(raw)  # both parsers give the same message


def test_full_decode_value_matches(pki: Pki) -> None:
    raw = build_signed_data(PAYLOAD, PSID_CAM, NOW_MS, pki.key, pki.cert)
    value = codec.decode_ieee1609dot2_data(raw)
    signed = value["content"][1]
    assert signed["tbsData"]["headerInfo"] == {"psid": 36, "generationTime": compute_time64(NOW_MS)}
    assert codec.encode_ieee1609dot2_data(value) == raw


def test_tbs_hashed_exactly_as_received(pki: Pki) -> None:
    """A sender whose encoder writes a long-form length: the received bytes verify."""
    tbs_value = {
        "payload": {"data": {"protocolVersion": 3, "content": ("unsecuredData", PAYLOAD)}},
        "headerInfo": {"psid": PSID_CAM, "generationTime": compute_time64(NOW_MS)},
    }
    canonical = codec.encode_to_be_signed_data(tbs_value)
    short = bytes([len(PAYLOAD)])
    at = canonical.index(short + PAYLOAD)
    received_tbs = canonical[:at] + b"\x81" + short + canonical[at + 1 :]  # same value, 1 byte more
    r, s = pki.key.sign_digest(compute_signing_digest(received_tbs, pki.cert))
    raw = (
        sd._PREFIX
        + received_tbs
        + b"\x80"
        + compute_hashed_id8(pki.cert)
        + sd._SIGNATURE.fixed[:2]
        + r
        + s
    )
    msg = decode_signed_data(raw)
    assert msg.tbs == received_tbs and msg.payload == PAYLOAD
    verify_p256(pki.key.public_key_compressed, msg.compute_digest(pki.cert), msg.r, msg.s)
    assert sd._decode_full(raw).tbs == received_tbs
    reencoded = compute_signing_digest(canonical, pki.cert)  # what a re-encoding receiver hashes
    with pytest.raises(InvalidSignature):
        verify_p256(pki.key.public_key_compressed, reencoded, msg.r, msg.s)


def test_signature_covers_the_signer_certificate(pki: Pki) -> None:
    raw = build_signed_data(PAYLOAD, PSID_CAM, NOW_MS, pki.key, pki.cert)
    msg = decode_signed_data(raw)
    with pytest.raises(InvalidSignature):
        verify_p256(pki.key.public_key_compressed, msg.compute_digest(pki.ca_cert), msg.r, msg.s)


def test_tampered_payload_fails_the_signature(pki: Pki) -> None:
    raw = bytearray(build_signed_data(PAYLOAD, PSID_CAM, NOW_MS, pki.key, pki.cert))
    raw[raw.index(PAYLOAD) + 3] ^= 0x01
    msg = decode_signed_data(bytes(raw))
    with pytest.raises(InvalidSignature):
        verify_p256(pki.key.public_key_compressed, msg.compute_digest(pki.cert), msg.r, msg.s)


def test_signed_cam_size_with_digest_signer(pki: Pki) -> None:
    raw = build_signed_data(PAYLOAD, PSID_CAM, NOW_MS, pki.key, pki.cert)
    # prefix 3 (version, signedData, sha256) + payload 4 (preamble, version, unsecuredData,
    # length) + headerInfo 11 (preamble, psid 2, generationTime 8) + digest 9 + signature 66
    assert len(raw) == len(PAYLOAD) + 3 + 4 + 11 + 9 + 66


def test_invalid_self_signer(pki: Pki) -> None:
    raw = build_signed_data(PAYLOAD, PSID_CAM, NOW_MS, pki.key, pki.cert)
    tbs = decode_signed_data(raw).tbs
    forged = sd._PREFIX + tbs + b"\x82" + raw[-66:]  # signer: self (NULL)
    with pytest.raises(V2xDecodeError):
        decode_signed_data(forged)


@pytest.mark.parametrize("cut", [1, 9, 66, 80])
def test_invalid_truncated(pki: Pki, cut: int) -> None:
    raw = build_signed_data(PAYLOAD, PSID_CAM, NOW_MS, pki.key, pki.cert)
    with pytest.raises(V2xDecodeError):
        decode_signed_data(raw[:-cut])


def test_invalid_oversized_and_empty() -> None:
    with pytest.raises(V2xDecodeError) as info:
        decode_signed_data(b"\x03" * (codec.MAX_MESSAGE_SIZE + 1))
    assert info.value.size == codec.MAX_MESSAGE_SIZE + 1
    with pytest.raises(V2xDecodeError):
        decode_signed_data(b"")


def test_invalid_unsigned_content() -> None:
    raw = codec.encode_ieee1609dot2_data(
        {"protocolVersion": 3, "content": ("unsecuredData", b"hello")}
    )
    with pytest.raises(V2xDecodeError):
        decode_signed_data(raw)
