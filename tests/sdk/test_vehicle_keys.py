"""The car's key custody (issue 9): one envelope per epoch x category, sensitive keys to the
owner only, and after a transfer nothing of the old owner's keys is kept."""

from __future__ import annotations

import pytest

from carchain.data.batches import decode_signed_header, decode_submitted
from carchain.data.categories import is_sensitive
from carchain.data.custody import compute_key_ref, decode_key_envelope, open_category_key
from carchain.data.records import Diagnostics, decode_record
from carchain.errors import DecryptionFailed
from tests.conftest import seeded_key
from tests.dataplane import NOW_MS, decrypt_upload, make_car, make_records

CUSTODIAN = seeded_key("custodian/saic")


def test_batches_of_one_epoch_share_their_category_envelopes() -> None:
    car = make_car("saic:keys-1", CUSTODIAN)
    rec = car.recorder(window_ms=30_000)
    ups = []
    for t, r in make_records(70, NOW_MS - 600_000):
        ups += rec.add_at(r, t)
    ups += rec.flush()
    refs = []
    for up in ups:
        sub = decode_submitted(up.body)
        h = decode_signed_header(sub.header).header
        assert [compute_key_ref(e) for e in sub.key_envelopes] == [s.key_ref for s in h.segments]
        refs.append([s.key_ref for s in h.segments])
    assert len(ups) == 3 and refs[0] == refs[1] == refs[2]  # kept for the whole epoch


def test_sensitive_category_keys_are_sealed_to_the_owner_only() -> None:
    car = make_car("saic:keys-2", CUSTODIAN)
    up = car.upload()
    for raw in decode_submitted(up.body).key_envelopes:
        env = decode_key_envelope(raw)
        assert open_category_key(raw, car.owner)
        if is_sensitive(env.category):
            assert env.custodian == b""
            with pytest.raises(DecryptionFailed):
                open_category_key(raw, CUSTODIAN)
        else:
            assert open_category_key(raw, CUSTODIAN)
    # The custodian reads the records without their positions; the owner reads them whole.
    custodian_view = decrypt_upload(up, CUSTODIAN)
    owner_view = decrypt_upload(up, car.owner)
    assert len(custodian_view) == len(owner_view) == up.record_count
    assert all(decode_record(r).lat is not None for r in owner_view)  # type: ignore[union-attr]
    assert all(decode_record(r).lat is None for r in custodian_view)  # type: ignore[union-attr]
    assert all(decode_record(r).speed_kmh is not None for r in custodian_view)  # type: ignore[union-attr]


def test_transfer_forgets_every_key_of_the_previous_owner() -> None:
    car = make_car("saic:keys-3", CUSTODIAN)
    buyer = seeded_key("owner/keys-3-buyer")
    rec = car.recorder(window_ms=10**9)
    for t, r in make_records(3, NOW_MS - 600_000):
        rec.add_at(r, t)
    rec.add_at(Diagnostics(NOW_MS - 500_000, ["P0301"], True), NOW_MS - 500_000)
    (before,) = rec.process_transfer(buyer.public_key, NOW_MS - 400_000)
    assert rec._epoch_keys == {} and rec._category_keys == {} and rec._envelopes == {}
    assert rec._pseudonym_keys == {}
    for t, r in make_records(2, NOW_MS - 300_000):
        rec.add_at(r, t)
    (after,) = rec.flush()
    old = decode_submitted(before.body).key_envelopes
    new = decode_submitted(after.body).key_envelopes
    assert {compute_key_ref(e) for e in old}.isdisjoint(compute_key_ref(e) for e in new)
    for raw in new:
        with pytest.raises(DecryptionFailed):
            open_category_key(raw, car.owner)
    assert len(decrypt_upload(after, buyer)) == 2 and len(decrypt_upload(before, car.owner)) == 4
