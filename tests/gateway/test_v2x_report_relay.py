"""The gateway's report relay: a car posts a pseudonym-signed report without vehicle
credentials; the gateway submits it as the OEM; a bad report is refused typed, and
nothing reaches the chain."""

from __future__ import annotations

import hashlib
import time

import httpx
import msgspec
import pytest

from carchain.core import governance as gov
from carchain.core import misbehaviour as mb
from carchain.crypto.ecdsa import P256SigningKey
from carchain.sdk.account import Account
from carchain.sdk.chainview import ChainView
from carchain.v2x.ca_trust import build_ca_registration
from carchain.v2x.certificates import (
    PSID_CAM,
    PSID_DENM,
    LinkageData,
    build_ca_certificate,
    build_pseudonym_certificate,
)
from carchain.v2x.misbehaviour import CarReport, open_report_evidence
from tests.conftest import CHAIN_ID, seeded_key
from tests.core.v2x_world import car_report
from tests.dataplane import World
from tests.dataplane import world as dataplane_world  # noqa: F401


def post(world: World, body: bytes) -> httpx.Response:
    return httpx.post(f"{world.gateway.url}/v2x/reports", content=body, timeout=30)


@pytest.fixture(scope="module")
def pseudonym(world: World) -> tuple[P256SigningKey, bytes]:
    """A pseudonym (key, certificate) of a CA that SAIC registered on chain by governance."""
    ca_key, now_s = P256SigningKey.generate(), int(time.time())
    ca_cert = build_ca_certificate(ca_key, [PSID_CAM, PSID_DENM], now_s - 86_400, 24 * 30)
    action = build_ca_registration("saic", ca_key, ca_cert, now_s - 86_400, now_s + 29 * 86_400)
    carry(world, "saic", action)
    ma = gov.AddMember("mama", "Misbehaviour Authority", ["misbehaviour_authority"],
                       seeded_key("mama").public_key)  # fmt: skip
    carry(world, "saic", ma)
    key = P256SigningKey.generate()
    cert = build_pseudonym_certificate(
        ca_cert, ca_key, key.public_key_compressed, now_s - 3_600, 24, [PSID_CAM, PSID_DENM],
        LinkageData(1, bytes(range(9))),
    )  # fmt: skip
    return key, cert


def carry(world: World, proposer: str, action: gov.Action) -> None:
    """Propose ``action`` and have the other founders vote it through."""
    doc = Account(world.client, seeded_key(proposer), CHAIN_ID).send(gov.Propose(action))
    event = next(e for e in doc["result"]["events"] if e["type"] == "proposal_created")
    pid = int(event["attributes"]["proposal_id"])
    for voter in ("geely", "bosch", "miit", "police", "saic"):
        if voter != proposer and gov.get_proposal(ChainView(world.client), pid).status == "open":
            Account(world.client, seeded_key(voter), CHAIN_ID).send(gov.Vote(pid, True))
    assert gov.get_proposal(ChainView(world.client), pid).status == "executed"


EVIDENCE = b"\x03\x81offending CAM latitude=311234567 longitude=1214567890"


def real_report(key: P256SigningKey, cert: bytes) -> CarReport:
    observed_ms = 1_700_000_000_500
    evidence_hash = hashlib.sha256(EVIDENCE).digest()
    digest = mb.compute_report_digest(CHAIN_ID, evidence_hash, "position_jump", observed_ms, cert)
    r, s = key.sign_digest(digest)
    return CarReport(EVIDENCE, "position_jump", observed_ms, cert, key.public_key_compressed, r, s)


def test_a_car_reports_through_the_gateway_without_credentials(
    world: World, pseudonym: tuple[P256SigningKey, bytes]
) -> None:
    before = mb.get_report_count(ChainView(world.client))
    resp = post(world, msgspec.msgpack.encode(real_report(*pseudonym)))
    assert resp.status_code == 200, resp.text
    seq = resp.json()["report_seq"]
    assert seq == before + 1
    report = mb.get_report(ChainView(world.client), seq)
    assert report.relayed_by == "saic" and report.status == "open"
    assert report.evidence_hash == hashlib.sha256(EVIDENCE).digest()
    assert [b.member_id for b in report.evidence_boxes] == ["mama"]
    assert open_report_evidence(report, seeded_key("mama"), CHAIN_ID, "mama") == EVIDENCE
    # neither the chain's record nor the API answer holds the evidence or its position
    needles = [EVIDENCE, b"latitude=311234567"]
    raw = ChainView(world.client).get(mb.STORE, mb.compute_report_key(seq)) or b""
    one = httpx.get(f"{world.client.url}/v2x/reports/{seq}", timeout=30)
    assert one.status_code == 200 and one.json()["evidence_hash"] == report.evidence_hash.hex()
    assert "evidence" not in one.json() and one.json()["evidence_boxes"][0]["member_id"] == "mama"
    every = httpx.get(f"{world.client.url}/v2x/reports", timeout=30)
    assert every.status_code == 200 and every.json()["count"] >= seq
    api, listing = one.content, every.content
    for blob in (raw, api, listing, api.hex().encode(), listing.lower()):
        assert not [n for n in needles if n in blob or n.hex().encode() in blob]
    planted = b"{" + EVIDENCE.hex().encode() + b"}"
    assert [n for n in needles if n in planted or n.hex().encode() in planted] == [
        EVIDENCE,
        b"latitude=311234567",
    ]


def test_invalid_reports_are_refused_before_the_chain(world: World) -> None:
    view = ChainView(world.client)
    before = mb.get_report_count(view)
    good = car_report(P256SigningKey.generate())
    tampered = msgspec.structs.replace(good, evidence=good.evidence + b"!")
    for body, status, code in (
        (msgspec.msgpack.encode(tampered), 400, "invalid_signature"),
        # signed, and the chain would take it: made-up "certificate" bytes holding the key
        (msgspec.msgpack.encode(good), 422, "invalid_v2x_body"),
        (b"\x93garbage", 422, "invalid_v2x_body"),
        (bytes(5000), 413, "batch_too_large"),
    ):
        resp = post(world, body)
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), resp.text
    assert mb.get_report_count(view) == before
