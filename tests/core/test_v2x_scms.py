"""Pseudonym CAs, linkage authorities, revocation and misbehaviour reports on chain.

Every authorisation rule is tried with the wrong party; one party alone (the MA, one
LA, an OEM, a third LA) can never revoke.
"""

from __future__ import annotations

import hashlib

import msgspec
import pytest

from carchain.core import governance as gov
from carchain.core import misbehaviour as mb
from carchain.core import registry, v2x_ca
from carchain.core import v2x_revocation as rvk
from carchain.crypto.ecdsa import P256SigningKey
from carchain.crypto.sealing import seal_to
from carchain.errors import DecryptionFailed, EvidenceHashMismatch
from carchain.v2x.misbehaviour import compute_evidence_info, open_report_evidence
from tests.conftest import CHAIN_ID, seeded_key
from tests.core.v2x_world import (
    LA1_ID,
    LA2_ID,
    World,
    carry,
    fake_certificate,
    register_ca_action,
    scms_world,  # noqa: F401
    signed_report,
)


def ca(w: World) -> v2x_ca.PseudonymCa:
    return v2x_ca.get_ca(w.chain.state, w.ca_id)


def decide(w: World, j: int = 3, i: int | None = None) -> rvk.Revocation:
    w.chain.send("mama", rvk.Revoke(w.ca_id, w.lv(j), w.period if i is None else i))
    return rvk.get_revocation(w.chain.state, rvk.get_revocation_count(w.chain.state))


def revocation(w: World, seq: int = 1) -> rvk.Revocation:
    return rvk.get_revocation(w.chain.state, seq)


# --- pseudonym CAs --------------------------------------------------------------------


def test_oem_registers_its_pseudonym_ca_through_governance(world: World) -> None:
    got = ca(world)
    assert (got.oem, got.status, got.public_key) == (
        "saic",
        "active",
        world.ca_key.public_key_compressed,
    )
    assert got.ca_certificate == world.ca_cert
    assert got.hashed_id8 == v2x_ca.compute_certificate_hashed_id8(world.ca_cert)
    assert v2x_ca.is_ca_in_force(got, 1_800_000_000)
    assert not v2x_ca.is_ca_in_force(got, 2_000_000_000)


@pytest.mark.parametrize("proposer", ["geely", "miit", "caam"])
def test_invalid_only_the_oem_itself_proposes_its_ca(world: World, proposer: str) -> None:
    key = P256SigningKey.generate()
    action = register_ca_action("saic", key, fake_certificate(key, b"other"))
    assert world.chain.reject(proposer, gov.Propose(action)) == "unauthorized"


def test_invalid_a_non_oem_cannot_register_a_ca(world: World) -> None:
    key = P256SigningKey.generate()
    action = register_ca_action("bosch", key, fake_certificate(key, b"bosch"))
    assert world.chain.reject("bosch", gov.Propose(action)) == "unauthorized"


def _variants(w: World) -> dict[str, gov.Action]:
    key = P256SigningKey.generate()
    good = register_ca_action("geely", key, fake_certificate(key, b"geely"))
    other = P256SigningKey.generate().public_key_compressed
    r = msgspec.structs.replace
    return {
        "wrong hashed_id8": r(good, hashed_id8=b"\x00" * 8),
        "key not in cert": r(good, public_key=other),
        "not a point prefix": r(good, public_key=b"\x04" + good.public_key[1:]),
        "short key": r(good, public_key=good.public_key[:32]),
        "oversized cert": r(good, ca_certificate=good.ca_certificate + bytes(1024)),
        "empty cert": r(good, ca_certificate=b""),
        "inverted validity": r(good, not_before_s=good.not_after_s),
        "negative time": r(good, not_before_s=-1),
        "too long": r(good, not_before_s=0, not_after_s=2**39),
        "duplicate": register_ca_action("geely", w.ca_key, w.ca_cert),
    }


@pytest.mark.parametrize(
    "case",
    ["wrong hashed_id8", "key not in cert", "not a point prefix", "short key", "oversized cert",
     "empty cert", "inverted validity", "negative time", "too long", "duplicate"],
)  # fmt: skip
def test_invalid_ca_registrations_are_refused(world: World, case: str) -> None:
    code = world.chain.reject("geely", gov.Propose(_variants(world)[case]))
    assert code in {"invalid_v2x_body", "already_exists"}


def test_invalid_ca_registration_without_the_cas_key(world: World) -> None:
    # a CA certificate is public: geely registered SAIC's (unregistered) CA as its own
    # with no proof of the key, squatting it; SAIC's own proposal then met already_exists
    saic_key = P256SigningKey.generate()
    cert = fake_certificate(saic_key, b"saic-pca-2")
    saic_own = register_ca_action("saic", saic_key, cert)
    squat = msgspec.structs.replace(saic_own, oem="geely")  # SAIC's proof, front-run
    bare = msgspec.structs.replace(squat, possession_r=b"", possession_s=b"")
    forged_r, forged_s = P256SigningKey.generate().sign_digest(
        v2x_ca.compute_possession_digest("geely", saic_own.hashed_id8)
    )
    forged = msgspec.structs.replace(squat, possession_r=forged_r, possession_s=forged_s)
    for action in (squat, bare, forged):
        assert world.chain.reject("geely", gov.Propose(action)) == "invalid_signature"
    assert carry(world.chain, "saic", saic_own).status == "executed"
    assert v2x_ca.get_ca(world.chain.state, saic_own.hashed_id8).oem == "saic"


def test_revoke_ca_by_vote_and_not_twice(world: World) -> None:
    p = carry(world.chain, "geely", v2x_ca.RevokePseudonymCa(world.ca_id, "key compromise"))
    assert p.status == "executed"
    got = ca(world)
    assert (got.status, got.revoked_reason) == ("revoked", "key compromise")
    assert not v2x_ca.is_ca_in_force(got, 1_800_000_000)
    again = v2x_ca.RevokePseudonymCa(world.ca_id, "again")
    assert world.chain.reject("geely", gov.Propose(again)) == "pseudonym_ca_not_in_force"
    unknown = v2x_ca.RevokePseudonymCa(b"\x01" * 8, "x")
    assert world.chain.reject("geely", gov.Propose(unknown)) == "unknown_pseudonym_ca"


# --- linkage authorities --------------------------------------------------------------


@pytest.mark.parametrize(
    "action",
    [
        rvk.SetLinkageAuthorities("caam", 1, "bosch", 2),  # bosch lacks the role
        rvk.SetLinkageAuthorities("caam", 1, "caam", 2),  # one party twice
        rvk.SetLinkageAuthorities("caam", 1, "cstc", 1),  # same LA id
        rvk.SetLinkageAuthorities("caam", 0x10000, "cstc", 1),
        rvk.SetLinkageAuthorities("caam", 1, "nobody", 2),
    ],
)
def test_invalid_linkage_authority_pairs_are_refused(world: World, action: gov.Action) -> None:
    assert world.chain.reject("miit", gov.Propose(action)) in {"unauthorized", "invalid_v2x_body"}
    assert rvk.get_linkage_authorities(world.chain.state).la1_id == LA1_ID


# --- revocation -------------------------------------------------------------------------


def test_revocation_needs_the_decision_and_both_seeds(world: World) -> None:
    rv = decide(world)
    assert (rv.status, rv.releases, rv.la1_id, rv.la2_id) == ("awaiting_seeds", [], LA1_ID, LA2_ID)
    world.chain.send("caam", rvk.ReleaseSeed(1, world.seed1))
    assert revocation(world).status == "awaiting_seeds"
    assert rvk.get_seed_pair(revocation(world)) is None
    world.chain.send("cstc", rvk.ReleaseSeed(1, world.seed2))
    done = revocation(world)
    assert done.status == "revoked" and done.revoked_height == world.chain.height
    assert rvk.get_seed_pair(done) == (world.seed1, world.seed2)


def test_seeds_may_come_in_either_order(world: World) -> None:
    decide(world)
    world.chain.send("cstc", rvk.ReleaseSeed(1, world.seed2))
    world.chain.send("caam", rvk.ReleaseSeed(1, world.seed1))
    assert revocation(world).status == "revoked"


@pytest.mark.parametrize("party", ["caam", "cstc", "saic", "miit", "police"])
def test_invalid_only_the_misbehaviour_authority_decides(world: World, party: str) -> None:
    body = rvk.Revoke(world.ca_id, world.lv(3), world.period)
    assert world.chain.reject(party, body) == "unauthorized"
    assert rvk.get_revocation_count(world.chain.state) == 0


@pytest.mark.parametrize("party", ["mama", "saic", "miit", "bosch"])
def test_invalid_only_the_two_las_release_seeds(world: World, party: str) -> None:
    decide(world)
    assert world.chain.reject(party, rvk.ReleaseSeed(1, world.seed1)) == "unauthorized"
    assert revocation(world).releases == []


def test_invalid_a_third_linkage_authority_cannot_stand_in(world: World) -> None:
    assert (
        carry(
            world.chain, "miit", gov.ChangeRoles("bosch", ["linkage_authority", "supplier"])
        ).status
        == "executed"
    )
    decide(world)
    world.chain.send("caam", rvk.ReleaseSeed(1, world.seed1))
    assert world.chain.reject("bosch", rvk.ReleaseSeed(1, world.seed2)) == "unauthorized"
    assert revocation(world).status == "awaiting_seeds"


def test_invalid_one_la_cannot_release_both_halves(world: World) -> None:
    decide(world)
    world.chain.send("caam", rvk.ReleaseSeed(1, world.seed1))
    assert world.chain.reject("caam", rvk.ReleaseSeed(1, world.seed1)) == "seed_already_released"
    # A second, different seed from the same LA replaces its first: still one LA.
    world.chain.send("caam", rvk.ReleaseSeed(1, world.seed2))
    rv = revocation(world)
    assert rv.status == "awaiting_seeds" and [r.la_id for r in rv.releases] == [LA1_ID]


def test_invalid_wrong_seeds_do_not_revoke_and_can_be_corrected(world: World) -> None:
    decide(world)
    world.chain.send("caam", rvk.ReleaseSeed(1, b"\x07" * 16))  # a wrong seed
    assert world.chain.reject("cstc", rvk.ReleaseSeed(1, world.seed2)) == "seed_mismatch"
    assert revocation(world).status == "awaiting_seeds"
    world.chain.send("caam", rvk.ReleaseSeed(1, world.seed1))  # LA1 corrects its release
    world.chain.send("cstc", rvk.ReleaseSeed(1, world.seed2))
    assert revocation(world).status == "revoked"


def test_invalid_seeds_of_another_vehicle_do_not_revoke(world: World) -> None:
    decide(world)
    world.chain.send("caam", rvk.ReleaseSeed(1, b"\x11" * 16))
    assert world.chain.reject("cstc", rvk.ReleaseSeed(1, b"\x22" * 16)) == "seed_mismatch"


def test_invalid_release_after_revocation_or_for_no_decision(world: World) -> None:
    assert world.chain.reject("caam", rvk.ReleaseSeed(1, world.seed1)) == "not_found"
    decide(world)
    world.chain.send("caam", rvk.ReleaseSeed(1, world.seed1))
    world.chain.send("cstc", rvk.ReleaseSeed(1, world.seed2))
    assert world.chain.reject("cstc", rvk.ReleaseSeed(1, b"\x01" * 16)) == "revocation_not_pending"
    assert world.chain.reject("caam", rvk.ReleaseSeed(1, b"\x01" * 15)) == "invalid_v2x_body"


def test_revocation_reaches_back_at_most_one_period(world: World) -> None:
    now = world.period
    for i in (now - 2, now + 1, -1):
        body = rvk.Revoke(world.ca_id, world.lv(1), i)
        assert world.chain.reject("mama", body) == "invalid_v2x_body"
    assert decide(world, i=now - 1).i_period == now - 1


def test_invalid_decisions_are_refused(world: World) -> None:
    lv = world.lv(2)
    assert (
        world.chain.reject("mama", rvk.Revoke(b"\x01" * 8, lv, world.period))
        == "unknown_pseudonym_ca"
    )
    assert (
        world.chain.reject("mama", rvk.Revoke(world.ca_id, lv[:8], world.period))
        == "invalid_v2x_body"
    )
    assert (
        world.chain.reject("mama", rvk.Revoke(world.ca_id, lv, world.period, 5))
        == "invalid_v2x_body"
    )
    decide(world, j=2)
    assert (
        world.chain.reject("mama", rvk.Revoke(world.ca_id, lv, world.period))
        == "already_revoked_linkage"
    )


def test_decision_before_linkage_authorities_are_set() -> None:
    from carchain.core.v2x_revocation import compute_period
    from tests.conftest import make_genesis
    from tests.core.memory import open_core_chain
    from tests.core.v2x_world import SCMS_FOUNDERS

    chain = open_core_chain(make_genesis(founders=SCMS_FOUNDERS))
    key = P256SigningKey.generate()
    assert (
        carry(chain, "saic", register_ca_action("saic", key, fake_certificate(key, b"c"))).status
        == "executed"
    )
    ca_id = v2x_ca.compute_certificate_hashed_id8(fake_certificate(key, b"c"))
    body = rvk.Revoke(ca_id, b"\x01" * 9, compute_period(chain.now_ms // 1000 + 1))
    assert chain.reject("mama", body) == "linkage_authorities_not_set"


# --- misbehaviour reports ------------------------------------------------------------------


EVIDENCE = b"\x03\x81offending cam lat=311234567 lon=1214567890 speed=8000"


def _find_plaintext(world: World, txs: list[bytes], needles: list[bytes]) -> list[bytes]:
    """Return the needles found in any stored value or in the transactions."""
    haystacks = [bytes(v) for v in world.chain.state.data.values()] + txs
    return [n for n in needles if any(n in h for h in haystacks)]


def test_oem_gateway_relays_a_signed_report_without_the_reporters_identity(world: World) -> None:
    reporter = P256SigningKey.generate()
    body = signed_report(reporter)
    world.chain.send("geely", body)
    report = mb.get_report(world.chain.state, 1)
    assert (report.status, report.relayed_by, report.reason) == ("open", "geely", "position_jump")
    assert report.reporter_hashed_id8 == v2x_ca.compute_certificate_hashed_id8(
        body.reporter_certificate
    )
    assert report.evidence_hash == hashlib.sha256(b"\x03\x81offending").digest()
    assert [b.member_id for b in report.evidence_boxes] == ["mama"]
    fields = set(mb.MisbehaviourReport.__struct_fields__)
    assert not fields & {"vehicle_id", "vehicle", "reporter", "vin", "owner", "evidence"}


def test_no_evidence_bytes_in_transaction_or_state(world: World) -> None:
    raw = world.chain.build("saic", signed_report(P256SigningKey.generate(), evidence=EVIDENCE))
    assert world.chain.submit(raw).ok
    assert [r.code for r in world.chain.block()] == [0]
    assert mb.get_report_count(world.chain.state) == 1
    needles = [EVIDENCE, EVIDENCE[8:40], b"lat=311234567"]
    assert _find_plaintext(world, [raw], needles) == []
    # the scan does find a planted copy
    world.chain.state.set("v2x", b"planted", b"x" + EVIDENCE[8:40] + b"y")
    assert _find_plaintext(world, [raw], needles) == [EVIDENCE[8:40], b"lat=311234567"]


def test_ma_opens_the_evidence_and_no_one_else_can(world: World) -> None:
    world.chain.send("saic", signed_report(P256SigningKey.generate(), evidence=EVIDENCE))
    report = mb.get_report(world.chain.state, 1)
    assert open_report_evidence(report, seeded_key("mama"), CHAIN_ID, "mama") == EVIDENCE
    for key, member in ((seeded_key("saic"), "mama"), (seeded_key("saic"), "saic")):
        with pytest.raises(DecryptionFailed):
            open_report_evidence(report, key, CHAIN_ID, member)
    with pytest.raises(DecryptionFailed):  # a box is bound to its chain
        open_report_evidence(report, seeded_key("mama"), "other-chain", "mama")


def test_a_box_not_of_the_hashed_evidence_is_a_typed_error_for_the_ma(world: World) -> None:
    reporter = P256SigningKey.generate()
    good = signed_report(reporter, evidence=EVIDENCE)
    info = compute_evidence_info(CHAIN_ID, good.evidence_hash, "mama")
    forged = seal_to(seeded_key("mama").public_key, b"some other message", info)
    world.chain.send(
        "saic", msgspec.structs.replace(good, evidence_boxes=[mb.EvidenceBox("mama", forged)])
    )
    report = mb.get_report(world.chain.state, 1)
    with pytest.raises(EvidenceHashMismatch):
        open_report_evidence(report, seeded_key("mama"), CHAIN_ID, "mama")


def _report_variants() -> dict[str, mb.SubmitReport]:
    reporter = P256SigningKey.generate()
    good = signed_report(reporter)
    r = msgspec.structs.replace
    other = P256SigningKey.generate()
    box = good.evidence_boxes[0]
    other_hash = signed_report(reporter, evidence=b"another message")
    return {
        "tampered evidence hash": r(good, evidence_hash=hashlib.sha256(b"x").digest()),
        "signature over another hash": r(
            other_hash, signature_r=good.signature_r, signature_s=good.signature_s
        ),
        "short evidence hash": r(good, evidence_hash=good.evidence_hash[:31]),
        "tampered reason": r(good, reason="impossible_speed"),
        "key not in cert": r(good, reporter_public_key=other.public_key_compressed),
        "signature by another key": r(
            signed_report(other), reporter_certificate=good.reporter_certificate,
            reporter_public_key=good.reporter_public_key,
        ),
        "unknown reason": signed_report(reporter, reason="bad_vibes"),
        "no boxes": r(good, evidence_boxes=[]),
        "box to a non-authority": signed_report(reporter, authorities=("geely",)),
        "box to an unknown member": signed_report(reporter, authorities=("ghost",)),
        "extra box": signed_report(reporter, authorities=("geely", "mama")),
        "duplicate box": r(good, evidence_boxes=[box, box]),
        "unsorted boxes": r(good, evidence_boxes=list(reversed(
            signed_report(reporter, authorities=("mama", "saic")).evidence_boxes))),
        "too many boxes": r(good, evidence_boxes=[
            mb.EvidenceBox(f"m{i:02}", box.box) for i in range(mb.MAX_EVIDENCE_BOXES + 1)]),
        "empty member id": r(good, evidence_boxes=[mb.EvidenceBox("", box.box)]),
        "short box": r(good, evidence_boxes=[mb.EvidenceBox("mama", box.box[:48])]),
        "oversized box": r(good, evidence_boxes=[mb.EvidenceBox("mama", bytes(2048 + 49))]),
        "short r": r(good, signature_r=good.signature_r[:31]),
        "oversized cert": r(good, reporter_certificate=bytes(600)),
        "bad key": r(good, reporter_public_key=b"\x05" * 33),
    }  # fmt: skip


@pytest.mark.parametrize("case", list(_report_variants()))
def test_invalid_reports_are_refused(world: World, case: str) -> None:
    code = world.chain.reject("saic", _report_variants()[case])
    assert code in {"invalid_signature", "invalid_v2x_body"}
    assert mb.get_report_count(world.chain.state) == 0


def test_boxes_must_name_every_active_authority(world: World) -> None:
    reporter = P256SigningKey.generate()
    action = gov.ChangeRoles("bosch", ["misbehaviour_authority", "supplier"])
    assert carry(world.chain, "miit", action).status == "executed"
    assert world.chain.reject("saic", signed_report(reporter)) == "invalid_v2x_body"
    world.chain.send("saic", signed_report(reporter, authorities=("bosch", "mama")))
    assert carry(world.chain, "miit", gov.SuspendMember("bosch")).status == "executed"
    both = signed_report(reporter, authorities=("bosch", "mama"))
    assert world.chain.reject("saic", both) == "invalid_v2x_body"
    world.chain.send("saic", signed_report(reporter))
    assert mb.get_report_count(world.chain.state) == 2


@pytest.mark.parametrize("party", ["bosch", "mama", "caam", "police"])
def test_invalid_only_an_oem_gateway_relays_reports(world: World, party: str) -> None:
    assert world.chain.reject(party, signed_report(P256SigningKey.generate())) == "unauthorized"


def test_review_dismisses_once(world: World) -> None:
    world.chain.send("saic", signed_report(P256SigningKey.generate()))
    assert world.chain.reject("saic", mb.Review(1, "dismiss")) == "unauthorized"
    assert world.chain.reject("caam", mb.Review(1, "dismiss")) == "unauthorized"
    assert world.chain.reject("mama", mb.Review(1, "maybe")) == "invalid_v2x_body"
    assert (
        world.chain.reject("mama", mb.Review(1, "dismiss", linkage_value=b"\x01" * 9))
        == "invalid_v2x_body"
    )
    world.chain.send("mama", mb.Review(1, "dismiss"))
    report = mb.get_report(world.chain.state, 1)
    assert (report.status, report.reviewed_by) == ("dismissed", "mama")
    assert world.chain.reject("mama", mb.Review(1, "dismiss")) == "report_already_reviewed"
    assert world.chain.reject("mama", mb.Review(2, "dismiss")) == "unknown_misbehaviour_report"


def test_review_triggers_the_revocation_decision(world: World) -> None:
    world.chain.send("saic", signed_report(P256SigningKey.generate()))
    bad = mb.Review(1, "revoke", world.ca_id, world.lv(5)[:4], world.period)
    assert world.chain.reject("mama", bad) == "invalid_v2x_body"
    assert mb.get_report(world.chain.state, 1).status == "open"
    world.chain.send("mama", mb.Review(1, "revoke", world.ca_id, world.lv(5), world.period))
    report = mb.get_report(world.chain.state, 1)
    assert (report.status, report.decision_seq) == ("revocation_decided", 1)
    rv = revocation(world)
    assert (rv.report_seq, rv.status, rv.decided_by) == (1, "awaiting_seeds", "mama")
    world.chain.send("caam", rvk.ReleaseSeed(1, world.seed1))
    world.chain.send("cstc", rvk.ReleaseSeed(1, world.seed2))
    assert revocation(world).status == "revoked"


def test_v2x_rows_admission_reads_name_the_stores_they_read() -> None:
    for name in ("v2x.report", "v2x.review", "v2x.revoke", "v2x.release_seed"):
        assert registry.TX_TYPES[name].admission_reads == frozenset({"members"})
