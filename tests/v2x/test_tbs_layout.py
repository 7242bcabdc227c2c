"""Learned tbsData layouts: after pycrate decodes one CAM's tbsData, later ones of the same
shape are read without the decoder and read the same; other shapes and non-canonical
encodings are never learned."""

from __future__ import annotations

import pytest

from carchain.v2x import codec
from carchain.v2x import signed_data as sd
from carchain.v2x.certificates import PSID_CAM
from carchain.v2x.its_time import compute_time64
from carchain.v2x.signed_data import build_signed_data, decode_signed_data
from carchain.v2x.tbs_layout import TbsLayouts, compute_layout
from tests.v2x.conftest import NOW_MS, Pki

PAYLOAD = bytes(range(30))


def _tbs_value(payload: bytes = PAYLOAD, **header: object) -> dict[str, object]:
    return {
        "payload": {"data": {"protocolVersion": 3, "content": ("unsecuredData", payload)}},
        "headerInfo": {"psid": PSID_CAM, "generationTime": compute_time64(NOW_MS), **header},
    }


def test_layout_reads_what_pycrate_decodes() -> None:
    value = _tbs_value()
    tbs = codec.encode_to_be_signed_data(value)
    layout = compute_layout(tbs, value)
    assert layout is not None and layout.read(tbs, 0) == (PAYLOAD, compute_time64(NOW_MS))
    other = _tbs_value(bytes(30), generationTime=5)
    other_tbs = codec.encode_to_be_signed_data(other)
    assert layout.read(other_tbs, 0) == (bytes(30), 5)
    longer = codec.encode_to_be_signed_data(_tbs_value(PAYLOAD + b"x"))
    assert layout.read(longer, 0) is None  # the length byte is structure


def test_other_shapes_are_not_learned() -> None:
    with_expiry = _tbs_value(expiryTime=1)
    assert compute_layout(codec.encode_to_be_signed_data(with_expiry), with_expiry) is None
    empty = _tbs_value(b"")
    assert compute_layout(codec.encode_to_be_signed_data(empty), empty) is None


def test_non_canonical_encoding_is_not_learned() -> None:
    value = _tbs_value()
    tbs = codec.encode_to_be_signed_data(value)
    at = tbs.index(bytes([len(PAYLOAD)]) + PAYLOAD)
    long_form = tbs[:at] + b"\x81" + tbs[at:]
    assert compute_layout(long_form, value) is None
    layouts = TbsLayouts()
    layouts.learn(long_form, value)
    assert layouts.find(long_form, 0, len(long_form)) is None


def test_second_message_skips_the_decoder(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    # A table of this test's own: the process-wide one may be full (256 shapes) after
    # the tests that ran a fleet's radio before this one.
    monkeypatch.setattr(sd, "LAYOUTS", TbsLayouts())
    first = build_signed_data(PAYLOAD + b"\x01", PSID_CAM, NOW_MS, pki.key, pki.cert)
    sd.learn_layout(decode_signed_data(first))  # learns the layout (the receiver: once verified)

    def no_decoder(*args: object) -> None:
        raise AssertionError("pycrate was called")

    for signer in ("digest", "certificate"):
        raw = build_signed_data(PAYLOAD + b"\x02", PSID_CAM, NOW_MS + 7, pki.key, pki.cert, signer)
        with monkeypatch.context() as m:
            m.setattr(codec, "decode_leading", no_decoder)
            message = decode_signed_data(raw)
        assert message.payload == PAYLOAD + b"\x02" and message.generation_ms == NOW_MS + 7
        assert message == sd._decode_full(raw)


def test_invalid_unverified_shapes_do_not_fill_the_layout_table(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    # layouts were learned at decode, before any check: MAX_LAYOUTS refused messages of
    # made-up PSIDs filled the table, and no real CAM's shape was learned any more
    from carchain.crypto.ecdsa import P256SigningKey
    from carchain.errors import V2xRejected
    from carchain.v2x.tbs_layout import MAX_LAYOUTS
    from tests.v2x.test_receiver import make_receiver

    layouts = TbsLayouts()
    monkeypatch.setattr(sd, "LAYOUTS", layouts)
    receiver = make_receiver(pki)
    stranger = P256SigningKey.generate()
    for k in range(MAX_LAYOUTS):
        junk = build_signed_data(PAYLOAD, 1_000 + k, NOW_MS, stranger, pki.cert, "certificate")
        with pytest.raises(V2xRejected):
            receiver.verify_at(junk, NOW_MS)
    assert layouts.find(junk, 3, None) is None
    first = build_signed_data(PAYLOAD, PSID_CAM, NOW_MS, pki.key, pki.cert, "certificate")
    receiver.verify_at(first, NOW_MS)
    second = build_signed_data(PAYLOAD, PSID_CAM, NOW_MS + 1, pki.key, pki.cert)

    def no_decoder(*args: object) -> None:
        raise AssertionError("pycrate was called: the CAM's shape was not learned")

    monkeypatch.setattr(codec, "decode_leading", no_decoder)
    message = decode_signed_data(second)  # read through the learned layout
    monkeypatch.undo()
    assert message == sd._decode_full(second)
