"""Two nodes applying the same V2X blocks reach the same state (the AES and hash work of
seed checks, the ECDSA report check: all pure functions of the transactions)."""

from __future__ import annotations

import hashlib

import msgspec

from carchain.core import governance as gov
from carchain.core import misbehaviour as mb
from carchain.core import v2x_revocation as rvk
from carchain.crypto import linkage as lk
from carchain.crypto.ecdsa import P256SigningKey
from tests.conftest import make_genesis
from tests.core.memory import open_core_chain
from tests.core.v2x_world import (
    LA1_ID,
    LA2_ID,
    SCMS_FOUNDERS,
    fake_certificate,
    register_ca_action,
    signed_report,
)


def test_same_v2x_blocks_same_state() -> None:
    a = open_core_chain(make_genesis(founders=SCMS_FOUNDERS))
    b = open_core_chain(make_genesis(founders=SCMS_FOUNDERS))

    def both(signer: str, body: msgspec.Struct) -> None:
        raw = a.build(signer, body)
        ra, rb = a.include(raw), b.include(raw)
        assert ra == rb and ra[0].code == 0, ra

    def carry(proposer: str, action: gov.Action) -> None:
        both(proposer, gov.Propose(action))
        pid = int.from_bytes(a.state.get("governance", b"seq") or b"", "big")
        for voter, *_ in SCMS_FOUNDERS:
            if voter != proposer and gov.get_proposal(a.state, pid).status == "open":
                both(voter, gov.Vote(pid, True))

    carry("miit", rvk.SetLinkageAuthorities("caam", LA1_ID, "cstc", LA2_ID))
    key = P256SigningKey.generate()
    action = register_ca_action("saic", key, fake_certificate(key, b"pca"))
    carry("saic", action)
    both("saic", signed_report(P256SigningKey.generate()))
    s1, s2 = hashlib.sha256(b"a").digest()[:16], hashlib.sha256(b"b").digest()[:16]
    lv = lk.compute_linkage_value(lk.compute_plv(LA1_ID, s1, 9), lk.compute_plv(LA2_ID, s2, 9))
    i = rvk.compute_period((a.now_ms + 1000) // 1000)
    both("mama", mb.Review(1, "revoke", action.hashed_id8, lv, i))
    both("caam", rvk.ReleaseSeed(1, s1))
    both("cstc", rvk.ReleaseSeed(1, s2))
    assert rvk.get_revocation(a.state, 1).status == "revoked"
    assert a.state.data == b.state.data
