"""Car-to-car transfers with receipts, and the CA trust store they check against."""

from __future__ import annotations

import msgspec
import pytest

from carchain.core import v2x_ca
from carchain.data.records import decode_record, encode_record
from carchain.errors import InvalidTransfer, V2xRejected
from carchain.v2x import transfer as tr
from carchain.v2x.ca_trust import ChainCaTrustStore, verify_issued_certificate
from carchain.v2x.issuance import PseudonymCredential
from tests.core.v2x_world import carry
from tests.v2x.scms_world import Scms, scms_fixture  # noqa: F401

DATA = b"hazard: debris at km 12.4; lidar snapshot ..."


def pair(scms: Scms) -> tuple[PseudonymCredential, PseudonymCredential]:
    a, b = scms.car("a"), scms.car("b")
    creds = scms.issue([a, b])
    return creds[a.vehicle_id][0], creds[b.vehicle_id][3]


def now_ms(scms: Scms) -> int:
    return scms.world.chain.now_ms


def test_transfer_and_receipt_verify_and_bind_the_data(scms: Scms) -> None:
    a, b = pair(scms)
    t = now_ms(scms)
    transfer, salt = tr.build_transfer(a, b.certificate, DATA, t)
    receipt = tr.build_receipt(b, transfer, t + 40)
    verified = tr.verify_transfer_and_receipt(
        transfer, receipt, ChainCaTrustStore(scms.world.chain.state)
    )
    assert (verified.sent_ms, verified.received_ms) == (t, t + 40)
    tr.validate_data(verified, DATA, salt)
    with pytest.raises(InvalidTransfer):
        tr.validate_data(verified, DATA + b"!", salt)
    with pytest.raises(InvalidTransfer):
        tr.validate_data(verified, DATA, bytes(16))
    assert DATA not in msgspec.msgpack.encode(transfer) + msgspec.msgpack.encode(receipt)


def test_both_cars_log_the_same_exchange_record(scms: Scms) -> None:
    a, b = pair(scms)
    transfer, _ = tr.build_transfer(a, b.certificate, DATA, now_ms(scms))
    receipt = tr.build_receipt(b, transfer, now_ms(scms) + 1)
    sent = tr.build_transfer_record("sender", transfer, receipt)
    got = decode_record(encode_record(sent))
    assert got == sent
    assert tr.decode_transfer_record(got) == (transfer, receipt)
    with pytest.raises(InvalidTransfer):
        tr.build_transfer_record("bystander", transfer, receipt)


def test_invalid_tampering_is_refused(scms: Scms) -> None:
    a, b = pair(scms)
    t = now_ms(scms)
    transfer, _ = tr.build_transfer(a, b.certificate, DATA, t)
    receipt = tr.build_receipt(b, transfer, t + 5)
    r = msgspec.structs.replace
    cases = [
        (r(transfer, time_ms=t + 1), receipt),  # the sender's signature no longer covers it
        (r(transfer, data_commitment=bytes(32)), receipt),
        (transfer, r(receipt, time_ms=t + 6)),  # the receiver's signature no longer covers it
        (transfer, r(receipt, transfer_hash=bytes(32))),
    ]
    for bad_t, bad_r in cases:
        with pytest.raises(InvalidTransfer):
            tr.verify_transfer_and_receipt(bad_t, bad_r)


def test_invalid_receipt_by_someone_else_or_for_another_receiver(scms: Scms) -> None:
    a, b = pair(scms)
    c = scms.issue([scms.car("c")])["saic:c"][0]
    transfer, _ = tr.build_transfer(a, b.certificate, DATA, now_ms(scms))
    with pytest.raises(InvalidTransfer):
        tr.build_receipt(c, transfer, now_ms(scms))  # C is not the named receiver
    forged = tr.build_receipt(b, transfer, now_ms(scms) + 1)
    forged = msgspec.structs.replace(forged, receiver_certificate=c.certificate)
    with pytest.raises(InvalidTransfer):
        tr.verify_transfer_and_receipt(transfer, forged)
    late = tr.build_receipt(b, transfer, now_ms(scms) + tr.MAX_SKEW_MS + 1)
    with pytest.raises(InvalidTransfer):
        tr.verify_transfer_and_receipt(transfer, late)


def test_trust_store_follows_the_chain(scms: Scms) -> None:
    a, _ = pair(scms)
    trust = ChainCaTrustStore(scms.world.chain.state)
    at_s = now_ms(scms) // 1000
    assert verify_issued_certificate(a.certificate, trust, at_s).issuer_id8 == scms.pca.hashed_id8
    with pytest.raises(V2xRejected) as expired:
        verify_issued_certificate(a.certificate, trust, at_s + 30 * 86400)
    assert expired.value.reason == "expired"
    carry(scms.world.chain, "geely", v2x_ca.RevokePseudonymCa(scms.pca.hashed_id8, "compromised"))
    assert trust.get_ca(scms.pca.hashed_id8) is not None  # cached until refreshed
    trust.process_refresh()
    revoked = trust.get_ca(scms.pca.hashed_id8)
    assert revoked is not None and revoked.is_revoked()
    with pytest.raises(V2xRejected) as untrusted:
        verify_issued_certificate(a.certificate, trust, at_s)
    assert untrusted.value.reason == "untrusted_issuer"


def test_invalid_a_ca_whose_certificate_does_not_check_is_not_trusted(scms: Scms) -> None:
    # A registered "CA" whose bytes only pass the chain's shallow checks is never trusted.
    from carchain.crypto.ecdsa import P256SigningKey
    from tests.core.v2x_world import fake_certificate, register_ca_action

    key = P256SigningKey.generate()
    action = register_ca_action("geely", key, fake_certificate(key, b"junk"))
    assert carry(scms.world.chain, "geely", action).status == "executed"
    trust = ChainCaTrustStore(scms.world.chain.state)
    assert trust.get_ca(action.hashed_id8) is None
