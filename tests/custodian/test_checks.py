"""The custodian's own checks (``custodian/checks.py``), on records alone: it never plans a
release before quorum, out of scope, for an expired, closed, rejected or unauthorised
case, for a key whose committee does not seat it, for a case it did not approve or
declined, or twice — whatever the chain would accept."""

from __future__ import annotations

import msgspec
import pytest

from carchain.core.case_records import (
    DAY_MS,
    VEHICLE_OEM_SEAT,
    Case,
    CaseScope,
    CaseState,
    CaseVote,
    Custodian,
    EscrowCommittee,
)
from carchain.custodian.checks import (
    ChainFacts,
    WantedShare,
    compute_case_verdict,
    compute_scope_epochs,
    count_quorum,
    find_seat,
    is_independent_court,
    is_share_in_scope,
    scan_shares,
)
from carchain.custodian.journal import DECLINED, ENDED, WATCHING

NOW = 20_010 * DAY_MS
SEATS = [("court", "court"), ("caam", "industry_association"), ("audit", "auditor")]


def make_committee(version: int = 1, threshold: int = 3, oem_seat: bool = True) -> EscrowCommittee:
    seats = [Custodian(i + 1, m, t, bytes([i + 1]) * 32) for i, (m, t) in enumerate(SEATS)]
    if oem_seat:
        seats.append(Custodian(len(seats) + 1, VEHICLE_OEM_SEAT, "oem", b""))
    return EscrowCommittee(version, threshold, seats, ["diagnostics", "location"], 0, 1)


def vote(member: str) -> CaseVote:
    return CaseVote(member, 10, NOW - 1000)


def make_case(**changes: object) -> Case:
    scope = CaseScope(["saic:1", "saic:2"], ["diagnostics", "location"],
                      20_000 * DAY_MS, 20_002 * DAY_MS)  # fmt: skip
    case = Case(
        case_id=7, case_ref=b"r" * 32, legal_basis="rtsl_accident", authority="police",
        officer_key=b"o" * 32, justification_hash=b"j" * 32, opened_scope=scope,
        opened_height=1, opened_ms=NOW - 10_000, state=CaseState.AUTHORIZED, scope=scope,
        court="court2", authorized_height=2, authorized_ms=NOW - 5000, expires_ms=NOW + DAY_MS,
        approvals=[vote("court"), vote("caam"), vote("audit")],
    )  # fmt: skip
    return msgspec.structs.replace(case, **changes)


def facts(
    committee: EscrowCommittee | None = None,
    inactive: frozenset[str] = frozenset(),
    released: frozenset[tuple[str, int, str, int]] = frozenset(),
    committees: dict[int, EscrowCommittee | None] | None = None,
) -> ChainFacts:
    c = make_committee() if committee is None else committee
    return ChainFacts(
        committee_for_epoch=lambda e: committees.get(e) if committees is not None else c,
        oem_of=lambda v: "saic",
        is_active=lambda m: m not in inactive,
        is_released=lambda v, e, cat, i: (v, e, cat, i) in released,
    )


def test_scope_epochs_are_the_days_of_the_half_open_window() -> None:
    scope = make_case().opened_scope
    assert list(compute_scope_epochs(scope)) == [20_000, 20_001]
    one_ms = msgspec.structs.replace(scope, data_until_ms=scope.data_from_ms + 1)
    assert list(compute_scope_epochs(one_ms)) == [20_000]
    empty = msgspec.structs.replace(scope, data_until_ms=scope.data_from_ms)
    assert list(compute_scope_epochs(empty)) == []


def test_an_authorised_approved_case_at_quorum_yields_every_key_of_the_scope() -> None:
    case = make_case()
    assert compute_case_verdict(case, NOW, "caam") is None
    scan = scan_shares(case, "caam", facts())
    keys = {(w.vehicle_id, w.epoch, w.category) for w in scan.wanted}
    assert keys == {(v, e, c) for v in ("saic:1", "saic:2") for e in (20_000, 20_001)
                    for c in ("diagnostics", "location")}  # fmt: skip
    assert {w.index for w in scan.wanted} == {2}  # caam's seat
    assert {w.committee_version for w in scan.wanted} == {1}
    assert scan.seats == 8 and scan.below_quorum == 0


@pytest.mark.parametrize(
    ("changes", "now", "expected"),
    [
        ({"state": CaseState.OPEN, "scope": None}, NOW, WATCHING),
        ({"state": CaseState.REJECTED}, NOW, ENDED),
        ({"state": CaseState.CLOSED}, NOW, ENDED),
        ({}, NOW + DAY_MS, ENDED),  # expires_ms reached: expired
        ({}, NOW + 2 * DAY_MS, ENDED),
    ],
)
def test_invalid_case_states_are_never_released(
    changes: dict[str, object], now: int, expected: str
) -> None:
    verdict = compute_case_verdict(make_case(**changes), now, "caam")
    assert verdict is not None and verdict[0] == expected


def test_invalid_a_custodian_that_did_not_approve_does_not_release() -> None:
    case = make_case(approvals=[vote("court"), vote("audit"), vote("saic")])
    verdict = compute_case_verdict(case, NOW, "caam")
    assert verdict is not None and verdict[0] == WATCHING


def test_invalid_a_custodian_that_declined_never_releases() -> None:
    case = make_case(declines=[CaseVote("caam", 11, NOW, "scope_too_broad")])
    verdict = compute_case_verdict(case, NOW, "caam")
    assert verdict == (DECLINED, "this custodian declined the case")


def test_invalid_below_quorum_nothing_is_wanted() -> None:
    case = make_case(approvals=[vote("court"), vote("caam")])  # 2 of k=3
    assert compute_case_verdict(case, NOW, "caam") is None
    scan = scan_shares(case, "caam", facts())
    assert scan.wanted == [] and scan.below_quorum == scan.seats == 8


def test_invalid_approvals_of_non_custodians_and_suspended_ones_do_not_count() -> None:
    case = make_case(approvals=[vote("caam"), vote("police"), vote("bosch"), vote("court")])
    assert scan_shares(case, "caam", facts()).wanted == []  # police, bosch hold no seat
    case = make_case()
    assert scan_shares(case, "caam", facts(inactive=frozenset({"audit"}))).wanted == []


def test_the_vehicles_oem_counts_for_the_oem_seat_and_holds_it() -> None:
    case = make_case(approvals=[vote("caam"), vote("court"), vote("saic")])
    assert len(scan_shares(case, "caam", facts()).wanted) == 8
    scan = scan_shares(case, "saic", facts())
    assert {w.index for w in scan.wanted} == {4}
    # another OEM is no custodian of saic's vehicles
    assert find_seat(make_committee(), "byd", "saic") is None
    assert count_quorum(make_case(approvals=[vote("byd")]), make_committee(), "saic",
                        lambda m: True) == 0  # fmt: skip


def test_invalid_a_member_outside_the_committee_has_no_seat() -> None:
    case = make_case(approvals=[*make_case().approvals, vote("police")])
    scan = scan_shares(case, "police", facts())
    assert scan.seats == 0 and scan.wanted == []


def test_invalid_an_epoch_without_committee_or_not_seating_the_custodian_is_skipped() -> None:
    other = EscrowCommittee(2, 2, [Custodian(1, "court", "court", b"c" * 32),
                                   Custodian(2, "audit", "auditor", b"a" * 32)],
                            ["diagnostics"], 20_001, 5)  # fmt: skip
    scan = scan_shares(make_case(), "caam", facts(committees={20_000: make_committee(),
                                                              20_001: other}))  # fmt: skip
    assert {w.epoch for w in scan.wanted} == {20_000}
    scan = scan_shares(make_case(), "caam", facts(committees={20_001: None}))
    assert scan.seats == 0


def test_invalid_categories_the_committee_does_not_escrow_are_never_wanted() -> None:
    committee = msgspec.structs.replace(make_committee(), categories=["diagnostics"])
    scan = scan_shares(make_case(), "caam", facts(committee))
    assert {w.category for w in scan.wanted} == {"diagnostics"}


def test_invalid_a_released_share_is_not_wanted_again() -> None:
    released = frozenset({("saic:1", 20_000, "diagnostics", 2)})
    scan = scan_shares(make_case(), "caam", facts(released=released))
    assert ("saic:1", 20_000, "diagnostics") not in {
        (w.vehicle_id, w.epoch, w.category) for w in scan.wanted
    }
    assert scan.released == 1 and len(scan.wanted) == 7


def test_only_the_authorised_scope_counts_not_the_opened_one() -> None:
    opened = make_case().opened_scope
    narrow = CaseScope(["saic:2"], ["diagnostics"], opened.data_from_ms + DAY_MS,
                       opened.data_until_ms)  # fmt: skip
    case = make_case(scope=narrow)
    scan = scan_shares(case, "caam", facts())
    assert {(w.vehicle_id, w.epoch, w.category) for w in scan.wanted} == {
        ("saic:2", 20_001, "diagnostics")
    }
    for outside in (
        WantedShare("saic:1", 20_001, "diagnostics", 2, 1),  # vehicle
        WantedShare("saic:2", 20_000, "diagnostics", 2, 1),  # epoch
        WantedShare("saic:2", 20_001, "location", 2, 1),  # category
    ):
        assert not is_share_in_scope(case, outside)
    assert is_share_in_scope(case, scan.wanted[0])


def test_invalid_a_case_authorised_by_no_independent_court_is_refused() -> None:
    roles = {
        "court2": ["court"],
        "judgecop": ["court", "law_enforcement"],
        "police": ["law_enforcement"],
    }
    get = lambda m: roles.get(m, [])  # noqa: E731
    assert is_independent_court(make_case(), get)
    assert not is_independent_court(make_case(court="judgecop"), get)
    assert not is_independent_court(make_case(court="police", authority="police"), get)
    assert not is_independent_court(make_case(court=""), get)
    assert not is_independent_court(make_case(court="stranger"), get)


def test_invalid_the_case_authority_never_counts_toward_its_own_quorum() -> None:
    # audit became the case's authority (roles changed by governance after the committee
    # was set): its approval is not one of the k independent ones.
    case = make_case(authority="audit", approvals=[vote("court"), vote("caam"), vote("audit")])
    assert count_quorum(case, make_committee(), "saic", lambda m: True) == 2
    scan = scan_shares(case, "court", facts())
    assert scan.wanted == [] and scan.below_quorum == scan.seats > 0
