"""End to end: V2XMSG's receiver over the chain's trust store and revocation index.

A car's pseudonyms verify; the misbehaviour authority decides on one of its
certificates, the PCA hands each LA its lookup, both LAs release their seeds on
chain, and from then on every certificate of that car (not only the reported one)
is refused as revoked, while other cars' messages still verify.
"""

from __future__ import annotations

import pytest

from carchain.core import misbehaviour as core_mb
from carchain.core import v2x_revocation as rvk
from carchain.core.misbehaviour import get_report
from carchain.errors import V2xRejected
from carchain.v2x.ca_trust import ChainCaTrustStore
from carchain.v2x.certificates import PSID_CAM, decode_certificate
from carchain.v2x.codec import encode_cam
from carchain.v2x.issuance import PseudonymCredential
from carchain.v2x.messages import Kinematics, build_cam_value
from carchain.v2x.misbehaviour import (
    PlausibilityChecker,
    build_report,
    compute_observation,
    open_report_evidence,
    seal_report,
)
from carchain.v2x.receiver import Receiver
from carchain.v2x.revocation_index import build_revocation_index
from carchain.v2x.signed_data import build_signed_data
from tests.conftest import CHAIN_ID, seeded_key
from tests.v2x.scms_world import Scms, scms_fixture  # noqa: F401


def cam(scms: Scms, cred: PseudonymCredential, signer: str = "digest", speed: int = 1_389) -> bytes:
    t = scms.world.chain.now_ms
    value = build_cam_value(7, t, Kinematics(7, 312_304_160, 1_214_737_010, speed, 900))
    return build_signed_data(encode_cam(value), PSID_CAM, t, cred.key, cred.certificate, signer)


def receiver(scms: Scms) -> tuple[Receiver, object]:
    view = scms.world.chain.state
    index = build_revocation_index(view)
    return Receiver(ChainCaTrustStore(view), index, now_ms=lambda: scms.world.chain.now_ms), index


def test_revoking_a_car_refuses_all_its_pseudonyms_and_only_its(scms: Scms) -> None:
    bad, good = scms.car("bad"), scms.car("good")
    creds = scms.issue([bad, good])
    rx, _ = receiver(scms)
    rx.verify(cam(scms, creds[bad.vehicle_id][0], "certificate"))
    # another message (the receiver refuses the same content twice, whatever the signer form)
    rx.verify(cam(scms, creds[bad.vehicle_id][0], "digest", speed=1_390))

    # A neighbour flags the bad car's impossible speed and reports it through its gateway.
    offending = rx.verify(cam(scms, creds[bad.vehicle_id][1], "certificate", speed=12_000))
    finding = PlausibilityChecker().check(compute_observation(offending))
    assert finding is not None and finding.reason == "impossible_speed"
    reporter = creds[good.vehicle_id][0]
    car_report = build_report(CHAIN_ID, reporter, finding, scms.world.chain.now_ms)
    mama = seeded_key("mama")
    scms.world.chain.send("saic", seal_report(CHAIN_ID, car_report, [("mama", mama.public_key)]))
    # the signed CAM (the bad car's position, speed, time) is nowhere in chain state
    stored = [bytes(v) for v in scms.world.chain.state.data.values()]
    raw = offending.raw
    windows = [raw[i : i + 16] for i in range(len(raw) - 15)]
    assert not [w for w in windows if any(w in v for v in stored)]
    report = get_report(scms.world.chain.state, 1)
    assert open_report_evidence(report, mama, CHAIN_ID, "mama") == raw

    # The MA decides; the PCA gives each LA its lookup; both LAs release seeds.
    cert = decode_certificate(creds[bad.vehicle_id][1].certificate)
    assert cert.linkage is not None
    review = core_mb.Review(
        1, "revoke", scms.pca.hashed_id8, cert.linkage.linkage_value, cert.linkage.i_cert
    )
    scms.world.chain.send("mama", review)
    l1, l2 = scms.pca.get_lookups(cert.hashed_id8)
    scms.world.chain.send(
        "caam", rvk.ReleaseSeed(1, scms.la1.get_release_seed(l1, cert.linkage.i_cert))
    )
    scms.world.chain.send(
        "cstc", rvk.ReleaseSeed(1, scms.la2.get_release_seed(l2, cert.linkage.i_cert))
    )
    assert rvk.get_revocation(scms.world.chain.state, 1).status == "revoked"

    rx, _ = receiver(scms)
    for k in (0, 5, 19):  # every pseudonym of the car, not only the reported one
        with pytest.raises(V2xRejected) as refused:
            rx.verify(cam(scms, creds[bad.vehicle_id][k], "certificate"))
        assert refused.value.reason == "revoked_linkage"
    for k in (0, 7):
        rx.verify(cam(scms, creds[good.vehicle_id][k], "certificate", speed=1_400 + k))


def test_a_revoked_ca_refuses_its_pseudonyms(scms: Scms) -> None:
    from carchain.core.v2x_ca import RevokePseudonymCa
    from tests.core.v2x_world import carry

    car = scms.car("1")
    cred = scms.issue([car])[car.vehicle_id][0]
    carry(scms.world.chain, "geely", RevokePseudonymCa(scms.pca.hashed_id8, "compromised"))
    rx, _ = receiver(scms)
    with pytest.raises(V2xRejected) as refused:
        rx.verify(cam(scms, cred, "certificate"))
    assert refused.value.reason == "revoked_ca"


def _revoke(scms: Scms, cred: PseudonymCredential) -> None:
    cert = decode_certificate(cred.certificate)
    assert cert.linkage is not None
    lv, i = cert.linkage.linkage_value, cert.linkage.i_cert
    scms.world.chain.send("mama", rvk.Revoke(scms.pca.hashed_id8, lv, i))
    seq = rvk.get_revocation_count(scms.world.chain.state)
    l1, l2 = scms.pca.get_lookups(cert.hashed_id8)
    scms.world.chain.send("caam", rvk.ReleaseSeed(seq, scms.la1.get_release_seed(l1, i)))
    scms.world.chain.send("cstc", rvk.ReleaseSeed(seq, scms.la2.get_release_seed(l2, i)))
    assert rvk.get_revocation(scms.world.chain.state, seq).status == "revoked"


def test_invalid_revoked_car_fresh_batch_is_revoked_too(scms: Scms) -> None:
    # each batch used to open new LA chains: the released seeds covered only the reported
    # certificate's batch, and the revoked car's next batch verified as if nothing happened
    bad, good = scms.car("bad"), scms.car("good")
    _revoke(scms, scms.issue([bad, good])[bad.vehicle_id][3])
    index = build_revocation_index(scms.world.chain.state)
    batches = []
    for first in (scms.period, scms.period + 1):
        request = bad.build_request(scms.pca.key.public_key, first, 1)
        pca_requests = scms.ra.process_requests(scms.world.chain.state, [request])
        boxes = scms.ra.route_responses([scms.pca.process_request(r) for r in pca_requests])
        fresh = bad.open_certificates(boxes[bad.vehicle_id], scms.pca.hashed_id8)
        batches.append(fresh)
        for cred in fresh:
            cert = decode_certificate(cred.certificate)
            assert cert.linkage is not None
            assert index.is_revoked(cert.linkage.linkage_value, cert.linkage.i_cert)
    rx, _ = receiver(scms)
    with pytest.raises(V2xRejected) as refused:
        rx.verify(cam(scms, batches[0][0], "certificate"))
    assert refused.value.reason == "revoked_linkage"
    for cred in scms.issue([good])[good.vehicle_id][:3]:
        cert = decode_certificate(cred.certificate)
        assert cert.linkage is not None
        assert not index.is_revoked(cert.linkage.linkage_value, cert.linkage.i_cert)
