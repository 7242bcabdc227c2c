"""A core chain with the V2X SCMS parties: two OEMs, two linkage authorities, a
misbehaviour authority, a registered pseudonym CA and a car's seeds.

Core tests need no 1609.2 codec: the chain never decodes C-OER, so the "certificate"
here is opaque bytes that hold the key's x coordinate (what the chain checks).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from carchain.core import governance as gov
from carchain.core import members
from carchain.core.misbehaviour import SubmitReport, compute_report_digest
from carchain.core.v2x_ca import (
    RegisterPseudonymCa,
    compute_certificate_hashed_id8,
    compute_possession_digest,
)
from carchain.core.v2x_revocation import SetLinkageAuthorities, compute_period
from carchain.crypto import linkage as lk
from carchain.crypto.ecdsa import P256SigningKey
from carchain.v2x.misbehaviour import CarReport, seal_report
from tests.conftest import CHAIN_ID, FOUNDERS, make_genesis, seeded_key
from tests.core.memory import CoreChain, open_core_chain

SCMS_FOUNDERS = (
    *FOUNDERS,
    (
        "caam",
        "China Association of Automobile Manufacturers",
        ["association", "linkage_authority"],
        0,
    ),
    ("cstc", "Certification Centre", ["linkage_authority"], 0),
    ("mama", "Misbehaviour Authority", ["misbehaviour_authority"], 0),
)
LA1_ID, LA2_ID = 0x8E09, 0x59CE


def fake_certificate(key: P256SigningKey, label: bytes) -> bytes:
    """Return opaque 'certificate' bytes holding the key's x coordinate."""
    return b"\x80\x03" + label + key.public_key_compressed + hashlib.sha256(label).digest()


def carry(chain: CoreChain, proposer: str, action: gov.Action) -> gov.Proposal:
    """Propose and vote yes with every other active member until the proposal closes."""
    result = chain.send(proposer, gov.Propose(action))
    pid = int({e.type: e.attributes for e in result.events}["proposal_created"]["proposal_id"])
    for voter, *_ in SCMS_FOUNDERS:
        p = gov.get_proposal(chain.state, pid)
        if p.status != "open":
            break
        m = members.get_member(chain.state, voter)
        if voter != proposer and m.status == "active":
            chain.send(voter, gov.Vote(pid, True))
    return gov.get_proposal(chain.state, pid)


@dataclass
class World:
    """The chain and the V2X keys of the parties in it."""

    chain: CoreChain
    ca_key: P256SigningKey
    ca_cert: bytes
    seed1: bytes
    seed2: bytes

    @property
    def ca_id(self) -> bytes:
        """Return the registered CA's HashedId8."""
        return compute_certificate_hashed_id8(self.ca_cert)

    @property
    def period(self) -> int:
        """Return the linkage period of the chain's next block."""
        return compute_period((self.chain.now_ms + 1000) // 1000)

    def lv(self, j: int, seed1: bytes | None = None, seed2: bytes | None = None) -> bytes:
        """Return lv(i, j) of the car's seeds of the current period."""
        p1 = lk.compute_plv(LA1_ID, seed1 or self.seed1, j)
        return lk.compute_linkage_value(p1, lk.compute_plv(LA2_ID, seed2 or self.seed2, j))


def register_ca_action(oem: str, key: P256SigningKey, cert: bytes) -> RegisterPseudonymCa:
    """Return the action registering ``cert`` for ``oem`` (valid 2023-2033)."""
    hid = compute_certificate_hashed_id8(cert)
    r, s = key.sign_digest(compute_possession_digest(oem, hid))
    return RegisterPseudonymCa(
        oem, cert, key.public_key_compressed, hid, 1_690_000_000, 2_000_000_000, r, s
    )


def open_world() -> World:
    """Return a chain with the LAs set and SAIC's pseudonym CA registered."""
    chain = open_core_chain(make_genesis(founders=SCMS_FOUNDERS))
    assert (
        carry(chain, "miit", SetLinkageAuthorities("caam", LA1_ID, "cstc", LA2_ID)).status
        == "executed"
    )
    key = P256SigningKey.generate()
    cert = fake_certificate(key, b"saic-pca")
    assert carry(chain, "saic", register_ca_action("saic", key, cert)).status == "executed"
    return World(
        chain, key, cert, hashlib.sha256(b"s1").digest()[:16], hashlib.sha256(b"s2").digest()[:16]
    )


def car_report(
    reporter: P256SigningKey, evidence: bytes = b"\x03\x81offending", reason: str = "position_jump"
) -> CarReport:
    """Return a car's (off-chain) report of ``evidence`` signed by its pseudonym key."""
    cert = fake_certificate(reporter, b"pseudonym")
    evidence_hash = hashlib.sha256(evidence).digest()
    digest = compute_report_digest(CHAIN_ID, evidence_hash, reason, 1_700_000_000_500, cert)
    r, s = reporter.sign_digest(digest)
    return CarReport(
        evidence, reason, 1_700_000_000_500, cert, reporter.public_key_compressed, r, s
    )


def signed_report(
    reporter: P256SigningKey,
    evidence: bytes = b"\x03\x81offending",
    reason: str = "position_jump",
    authorities: tuple[str, ...] = ("mama",),
) -> SubmitReport:
    """Return the chain body of a report of ``evidence``, sealed to ``authorities``."""
    return seal_report(
        CHAIN_ID,
        car_report(reporter, evidence, reason),
        [(a, seeded_key(a).public_key) for a in authorities],
    )


@pytest.fixture(name="world")
def scms_world() -> Iterator[World]:
    """A fresh SCMS world."""
    yield open_world()
