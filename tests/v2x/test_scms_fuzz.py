"""Hypothesis fuzz of what the SCMS side decodes from others: transfer records,
transfers and receipts, sealed PLVs and lookups. Only the typed error, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carchain.crypto.signing import SigningKey
from carchain.data.records import V2xTransfer
from carchain.errors import DecryptionFailed, InvalidTransfer
from carchain.v2x import transfer as tr
from carchain.v2x.linkage import open_lookup, open_plv

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = SigningKey.generate()
BIN = st.binary(max_size=300)


@FUZZ
@given(BIN, BIN)
def test_garbage_transfer_records_fail_typed(transfer: bytes, receipt: bytes) -> None:
    try:
        t, r = tr.decode_transfer_record(V2xTransfer(1, "sender", transfer, receipt))
    except InvalidTransfer:
        return
    with pytest.raises(InvalidTransfer):
        tr.verify_transfer_and_receipt(t, r)


@FUZZ
@given(
    st.builds(tr.Transfer, BIN, BIN, st.integers(0, 2**62), BIN, BIN, BIN),
    st.builds(tr.Receipt, BIN, st.integers(0, 2**62), BIN, BIN, BIN),
)
def test_garbage_transfers_and_receipts_fail_typed(t: tr.Transfer, r: tr.Receipt) -> None:
    with pytest.raises(InvalidTransfer):
        tr.verify_transfer_and_receipt(t, r)


@FUZZ
@given(BIN)
def test_garbage_boxes_fail_opaquely(box: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        open_plv(KEY, box)
    with pytest.raises(DecryptionFailed):
        open_lookup(KEY, box)
