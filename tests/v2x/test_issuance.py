"""Issuing pseudonym certificates through RA, two LAs and the PCA; who learns what."""

from __future__ import annotations

import msgspec
import pytest

from carchain.core import vehicles as veh
from carchain.crypto import linkage as lk
from carchain.errors import InvalidSignature, InvalidV2xBody, VehicleNotEligible
from carchain.v2x.certificates import PSID_CAM, PSID_DENM, decode_certificate
from carchain.v2x.issuance import (
    CERTS_PER_PERIOD,
    OVERLAP_S,
    compute_batch_signing_bytes,
    compute_validity,
)
from tests.v2x.scms_world import Scms, scms_fixture  # noqa: F401


def test_a_registered_car_gets_a_week_of_linked_pseudonyms(scms: Scms) -> None:
    car = scms.car("1")
    creds = scms.issue([car])[car.vehicle_id]
    assert len(creds) == CERTS_PER_PERIOD
    certs = [decode_certificate(c.certificate) for c in creds]
    assert all(c.issuer_id8 == scms.pca.hashed_id8 for c in certs)
    assert all(c.psids == (PSID_CAM, PSID_DENM) for c in certs)
    assert all(c.linkage is not None and c.linkage.i_cert == scms.period for c in certs)
    assert len({c.linkage.linkage_value for c in certs if c.linkage}) == CERTS_PER_PERIOD
    assert [c.public_key for c in certs] == [cr.key.public_key_compressed for cr in creds]
    # The linkage values are exactly lv(i, j) of the car's two seed chains (j = 0..19).
    (c1,), (c2,) = scms.la1.chains, scms.la2.chains
    s1, s2 = scms.la1.get_seed(c1, scms.period), scms.la2.get_seed(c2, scms.period)
    expected = {
        lk.compute_linkage_value(
            lk.compute_plv(scms.la1.la_id, s1, j), lk.compute_plv(scms.la2.la_id, s2, j)
        )
        for j in range(20)
    }
    assert {c.linkage.linkage_value for c in certs if c.linkage} == expected


def test_windows_overlap_between_weeks(scms: Scms) -> None:
    car = scms.car("1")
    creds = scms.issue([car], periods=2)[car.vehicle_id]
    week1, week2 = (
        decode_certificate(creds[0].certificate),
        decode_certificate(creds[-1].certificate),
    )
    assert week2.linkage and week2.linkage.i_cert == scms.period + 1
    assert week2.start_s < week1.end_s and week1.end_s - week2.start_s == 2 * OVERLAP_S
    start, hours = compute_validity(scms.period)
    assert (week1.start_s, week1.end_s - week1.start_s) == (start, hours * 3600)


def test_invalid_unregistered_revoked_or_foreign_cars_get_nothing(scms: Scms) -> None:
    car = scms.car("1")
    scms.world.chain.send("saic", veh.RevokeVehicle("saic:1", "stolen"))
    with pytest.raises(VehicleNotEligible) as revoked:
        scms.issue([car])
    assert revoked.value.status == "revoked"
    geely_car = scms.car("7", oem="geely")
    with pytest.raises(VehicleNotEligible) as foreign:
        scms.issue([geely_car])
    assert foreign.value.status == "other_oem"
    ghost = scms.car("2")
    ghost.vehicle_id = "saic:ghost"
    with pytest.raises(VehicleNotEligible):
        scms.issue([ghost])
    assert scms.pca.lookups == {}


def test_invalid_a_request_not_signed_by_the_car_is_refused(scms: Scms) -> None:
    car = scms.car("1")
    req = car.build_request(scms.pca.key.public_key, scms.period)
    forged = msgspec.structs.replace(req, per_period=req.per_period - 1, sealed=req.sealed[:-1])
    with pytest.raises(InvalidSignature):
        scms.ra.process_requests(scms.world.chain.state, [forged])
    bad_count = msgspec.structs.replace(req, sealed=req.sealed[:-1])
    signature = car.vehicle_key.sign(compute_batch_signing_bytes(bad_count))
    bad_count = msgspec.structs.replace(bad_count, signature=signature)
    with pytest.raises(InvalidV2xBody):
        scms.ra.process_requests(scms.world.chain.state, [bad_count])


def test_the_ra_sees_no_key_or_linkage_and_the_pca_no_car(scms: Scms) -> None:
    cars = [scms.car(str(k)) for k in range(3)]
    requests = [c.build_request(scms.pca.key.public_key, scms.period) for c in cars]
    seen_by_ra = msgspec.msgpack.encode(requests)
    pca_requests = scms.ra.process_requests(scms.world.chain.state, requests)
    seen_by_pca = msgspec.msgpack.encode(pca_requests)
    for car in cars:
        assert car.vehicle_id.encode() not in seen_by_pca
        assert car.vehicle_key.public_key not in seen_by_pca
        for key, _ in car.pending:
            assert key.public_key_compressed[1:] not in seen_by_ra  # only sealed boxes
    # The PCA's requests interleave the cars (shuffled): nothing groups them by car.
    owners = [scms.ra.routes[r.request_id][0] for r in pca_requests]
    assert owners != sorted(owners)
    responses = [scms.pca.process_request(r) for r in pca_requests]
    boxes = scms.ra.route_responses(responses)
    for car in cars:
        creds = car.open_certificates(boxes[car.vehicle_id], scms.pca.hashed_id8)
        for cred in creds:
            assert cred.certificate not in b"".join(boxes[car.vehicle_id])  # sealed for the car


def test_the_pca_keeps_lookups_only_each_la_can_open(scms: Scms) -> None:
    car = scms.car("1")
    cred = scms.issue([car])[car.vehicle_id][5]
    cert_id = decode_certificate(cred.certificate).hashed_id8
    l1, l2 = scms.pca.get_lookups(cert_id)
    s1, s2 = scms.la1.get_release_seed(l1, scms.period), scms.la2.get_release_seed(l2, scms.period)
    lv = decode_certificate(cred.certificate).linkage
    assert lv is not None
    assert lv.linkage_value in lk.compute_linkage_values(scms.la1.la_id, s1, scms.la2.la_id, s2, 20)
    with pytest.raises(InvalidV2xBody):
        scms.pca.get_lookups(b"\x00" * 8)


def test_invalid_the_pca_never_issues_beyond_its_own_validity(scms: Scms) -> None:
    car = scms.car("1")
    req = car.build_request(scms.pca.key.public_key, scms.period + 400)  # ~8 years ahead
    (first, *_) = scms.ra.process_requests(scms.world.chain.state, [req])
    with pytest.raises(InvalidV2xBody):
        scms.pca.process_request(first)
    assert scms.pca.lookups == {}


def test_invalid_short_or_unknown_responses_are_refused_typed(scms: Scms) -> None:
    car = scms.car("1")
    req = car.build_request(scms.pca.key.public_key, scms.period, per_period=3)
    pca_requests = scms.ra.process_requests(scms.world.chain.state, [req])
    responses = [scms.pca.process_request(r) for r in pca_requests]
    boxes = scms.ra.route_responses(responses[:2])[car.vehicle_id]
    with pytest.raises(InvalidV2xBody):
        car.open_certificates(boxes, scms.pca.hashed_id8)
    with pytest.raises(InvalidV2xBody):
        scms.ra.route_responses(responses[:1])  # already routed: unknown now
