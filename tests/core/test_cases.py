"""The case state machine: open -> authorize -> approve -> release -> report -> close,
and every illegal transition refused with a typed error, state unchanged."""

from __future__ import annotations

import msgspec
import pytest

from carchain.core import case_notice, cases, escrow_releases
from carchain.core.case_records import (
    DAY_MS,
    MAX_AUTHORIZATION_MS,
    MAX_NOTICE_DELAY_MS_DEFAULT,
    ApproveCase,
    CaseState,
    CloseCase,
    DeclineCase,
    ExtendNotice,
    RejectCase,
    ReportCase,
)
from carchain.core.genesis import Genesis
from carchain.errors import InvalidGenesis
from tests.core.lawful_world import (
    EPOCH_MS,
    approve,
    authorize_body,
    authorized_case,
    digest,
    genesis,  # noqa: F401
    get_case,
    item,
    open_body,
    open_case,
    release_body,
    replace,
    scope,
    setup_world,
)
from tests.core.memory import CoreChain, core_chain, open_core_chain  # noqa: F401


@pytest.fixture
def world(chain: CoreChain) -> CoreChain:
    return setup_world(chain)


def test_case_happy_path_open_authorize_approve_release_report_close(world: CoreChain) -> None:
    chain = world
    case_id = open_case(chain)
    assert case_id == 1
    opened = get_case(chain)
    assert opened.state == CaseState.OPEN and opened.authority == "police"
    assert opened.scope is None
    result = chain.send("court2", authorize_body(chain, case_id))
    assert [e.type for e in result.events][1:] == ["case_authorized"]
    authorised = get_case(chain)
    assert authorised.state == CaseState.AUTHORIZED and authorised.court == "court2"
    assert authorised.notice_due_ms == authorised.authorized_ms + 60 * DAY_MS
    approve(chain, case_id, "court", "caam", "saic")
    assert [v.member_id for v in get_case(chain).approvals] == ["court", "caam", "saic"]
    chain.send("caam", release_body(case_id, item(index=2), item("saic:2", index=2)))
    released = escrow_releases.get_releases(chain.state, case_id)
    assert [r.custodian for r in released] == ["caam"]
    assert get_case(chain).released_keys == 2
    chain.send("police", ReportCase(case_id, digest("report")))
    assert get_case(chain).report_hash == digest("report")
    chain.send("police", CloseCase(case_id))
    closed = get_case(chain)
    assert closed.state == CaseState.CLOSED and closed.closed_height == chain.height


def test_events_of_a_sealed_case_name_no_vehicle(world: CoreChain) -> None:
    chain = world
    results = [chain.send("police", open_body(chain))]
    results.append(chain.send("court2", authorize_body(chain)))
    results.append(chain.send("court", ApproveCase(1)))
    for r in results:
        for event in r.events[1:]:
            assert set(event.attributes) <= {"case_id", "vehicles", "approvals"}, event
            assert not any("saic" in v for v in event.attributes.values())


def test_court2_rejects_an_open_case(world: CoreChain) -> None:
    case_id = open_case(world)
    world.send("court2", RejectCase(case_id, "insufficient_basis"))
    case = get_case(world)
    assert case.state == CaseState.REJECTED and case.reject_reason == "insufficient_basis"
    assert world.reject("court2", authorize_body(world, case_id)) == "case_not_open"


def test_authorisation_may_narrow_the_scope(world: CoreChain) -> None:
    case_id = open_case(world)
    narrow = scope(["saic:1"], ["crash_pulse"], EPOCH_MS + DAY_MS, EPOCH_MS + 2 * DAY_MS)
    world.send("court2", authorize_body(world, case_id, narrow))
    assert get_case(world).scope == narrow
    assert get_case(world).opened_scope == scope()


# --- illegal transitions ------------------------------------------------------------


def test_invalid_police_cannot_authorise(world: CoreChain) -> None:
    case_id = open_case(world)
    assert world.reject("police2", authorize_body(world, case_id)) == "unauthorized"


def test_invalid_court_cannot_open(world: CoreChain) -> None:
    assert world.reject("court", open_body(world)) == "unauthorized"


def test_invalid_court_cannot_authorise_its_own_case(world: CoreChain) -> None:
    # judgecop holds both roles: it opens, and neither it nor any member that is also
    # law enforcement may authorise.
    case_id = open_case(world, by="judgecop")
    assert world.reject("judgecop", authorize_body(world, case_id)) == "court_not_independent"
    assert world.reject("judgecop", RejectCase(case_id, "other")) == "court_not_independent"
    other = open_case(world)
    assert world.reject("judgecop", authorize_body(world, other)) == "court_not_independent"
    world.send("court2", authorize_body(world, case_id))


def test_invalid_scope_widened_at_authorisation(world: CoreChain) -> None:
    case_id = open_case(world)
    for wider in (
        scope(["geely:1", "saic:1", "saic:2"]),
        scope(categories=["crash_pulse", "location", "motion"]),
        scope(from_ms=EPOCH_MS - 1),
        scope(until_ms=EPOCH_MS + 3 * DAY_MS + 1),
    ):
        assert world.reject("court2", authorize_body(world, case_id, wider)) == "scope_widened"


def test_invalid_expiry_and_notice_delay(world: CoreChain) -> None:
    case_id = open_case(world)
    past = authorize_body(world, case_id, expires_in_ms=0)
    assert world.reject("court2", past) == "invalid_body"
    too_far = authorize_body(world, case_id, expires_in_ms=MAX_AUTHORIZATION_MS + 2000)
    assert world.reject("court2", too_far) == "invalid_body"
    long = authorize_body(world, case_id, notice_delay_ms=MAX_NOTICE_DELAY_MS_DEFAULT + 1)
    assert world.reject("court2", long) == "notice_delay_out_of_range"
    negative = authorize_body(world, case_id, notice_delay_ms=-1)
    assert world.reject("court2", negative) == "notice_delay_out_of_range"


def test_invalid_open_bodies(world: CoreChain) -> None:
    body = open_body(world)
    bad = [
        replace(body, legal_basis="whim"),
        replace(body, case_ref=b"short"),
        replace(body, justification_hash=b""),
        replace(body, officer_key=b"\x01" * 31),
        replace(body, scope=scope([])),
        replace(body, scope=scope(["saic:2", "saic:1"])),
        replace(body, scope=scope(["saic:1", "saic:1"])),
        replace(body, scope=scope(["saic:9"])),
        replace(body, scope=scope(categories=[])),
        replace(body, scope=scope(categories=["location", "crash_pulse"])),
        replace(body, scope=scope(categories=["nonsense"])),
        replace(body, scope=scope(from_ms=EPOCH_MS, until_ms=EPOCH_MS)),
        replace(body, scope=scope(from_ms=EPOCH_MS, until_ms=EPOCH_MS + 367 * DAY_MS)),
        replace(body, scope=scope([f"saic:{n:03d}" for n in range(65)])),
    ]
    for b in bad:
        code = world.reject("police", b)
        assert code in {"invalid_body", "not_found"}, (b, code)


def test_invalid_open_unescrowed_category_or_epoch(world: CoreChain) -> None:
    body = open_body(world, scope(categories=["diagnostics"]))
    assert world.reject("police", body) == "category_not_escrowed"
    before = open_body(world, scope(from_ms=EPOCH_MS - DAY_MS))  # no committee yet that day
    assert world.reject("police", before) == "no_escrow_committee"


def test_invalid_approve_before_authorisation_or_after_expiry(world: CoreChain) -> None:
    case_id = open_case(world)
    assert world.reject("court", ApproveCase(case_id)) == "case_not_authorized"
    world.send("court2", authorize_body(world, case_id, expires_in_ms=10 * DAY_MS))
    world.now_ms += 10 * DAY_MS
    assert world.reject("court", ApproveCase(case_id)) == "case_expired"
    assert world.reject("caam", DeclineCase(case_id, "other")) == "case_expired"


def test_invalid_double_vote_and_non_custodian_vote(world: CoreChain) -> None:
    case_id = authorized_case(world)
    world.send("court", ApproveCase(case_id))
    assert world.reject("court", ApproveCase(case_id)) == "already_voted"
    assert world.reject("court", DeclineCase(case_id, "other")) == "already_voted"
    world.send("caam", DeclineCase(case_id, "scope_too_broad"))
    assert world.reject("caam", ApproveCase(case_id)) == "already_voted"
    # Not custodians: the police, an insurer, an OEM none of whose cars is in scope.
    for outsider in ("police", "pingan", "geely", "bosch"):
        assert world.reject(outsider, ApproveCase(case_id)) == "not_case_custodian"


def test_invalid_decline_reason_is_a_code(world: CoreChain) -> None:
    case_id = authorized_case(world)
    assert world.reject("court", DeclineCase(case_id, "the owner is Mr Li")) == "invalid_body"
    assert world.reject("court2", RejectCase(2, "other")) == "not_found"


def test_invalid_report_and_close_by_others(world: CoreChain) -> None:
    case_id = open_case(world)
    assert world.reject("police", ReportCase(case_id, digest("r"))) == "case_not_authorized"
    world.send("court2", authorize_body(world, case_id))
    assert world.reject("police2", ReportCase(case_id, digest("r"))) == "not_case_party"
    assert world.reject("police", ReportCase(case_id, b"x")) == "invalid_body"
    world.send("police", ReportCase(case_id, digest("r")))
    assert world.reject("police", ReportCase(case_id, digest("r2"))) == "case_already_reported"
    for other in ("police2", "court", "saic"):
        assert world.reject(other, CloseCase(case_id)) == "not_case_party"
    world.send("court2", CloseCase(case_id))
    assert world.reject("police", CloseCase(case_id)) == "case_ended"
    assert world.reject("court", ApproveCase(case_id)) == "case_not_authorized"


def test_extend_notice_rules(world: CoreChain) -> None:
    case_id = authorized_case(world, notice_delay_ms=30 * DAY_MS)
    assert world.reject("court", ExtendNotice(case_id, 60 * DAY_MS)) == "not_case_party"
    assert world.reject("court2", ExtendNotice(case_id, 30 * DAY_MS)) == "notice_delay_out_of_range"
    too_long = ExtendNotice(case_id, MAX_NOTICE_DELAY_MS_DEFAULT + 1)
    assert world.reject("court2", too_long) == "notice_delay_out_of_range"
    world.send("court2", ExtendNotice(case_id, 90 * DAY_MS))
    case = get_case(world)
    assert case.notice_extensions == 1
    assert case.notice_due_ms == case.authorized_ms + 90 * DAY_MS
    open_id = open_case(world)
    assert world.reject("court2", ExtendNotice(open_id, 90 * DAY_MS)) == "case_not_authorized"


def test_no_extension_once_the_notice_is_due(world: CoreChain) -> None:
    # The delay has run out: an extension in the block the notice falls due (or in any
    # later block, before a busy queue gave it) would re-seal a case owed to the owners.
    case_id = authorized_case(world, notice_delay_ms=30 * DAY_MS)
    due = get_case(world).notice_due_ms
    world.now_ms = due - 1000  # the next block's time is the due time
    (result,) = world.include(world.build("court2", ExtendNotice(case_id, 90 * DAY_MS)))
    assert result.error_code == "invalid_state"
    case = get_case(world)
    assert (case.notice_due_ms, case.notice_extensions) == (due, 0)
    assert case.noticed


def test_extensions_leave_no_stale_queue_entries(world: CoreChain) -> None:
    # Each extension used to leave its old entry queued: a court extending by 1 ms at a
    # time grew one bucket (decoded and rewritten on every schedule, every stale entry
    # read at its due block outside the notice budget) without bound.
    case_id = authorized_case(world, notice_delay_ms=30 * DAY_MS)
    first_day = get_case(world).notice_due_ms // DAY_MS
    for step in range(1, 21):
        world.send("court2", ExtendNotice(case_id, 30 * DAY_MS + step))
    assert len(case_notice.get_bucket(world.state, first_day)) == 1
    world.send("court2", ExtendNotice(case_id, 40 * DAY_MS))  # to another day's bucket
    case = get_case(world)
    assert case_notice.get_bucket(world.state, first_day) == []
    assert case_notice.get_bucket(world.state, case.notice_due_ms // DAY_MS) == [
        case_notice.NoticeEntry(case.notice_due_ms, case_id)
    ]
    world.now_ms = case.notice_due_ms - 1000
    world.block()
    assert get_case(world).noticed  # the moved entry still gives the notice


def test_case_ids_count_from_one(world: CoreChain) -> None:
    assert cases.get_case_count(world.state) == 0
    assert cases.get_case_optional(world.state, 0) is None
    open_case(world)
    open_case(world)
    assert cases.get_case_count(world.state) == 2


# --- the chain parameter max_notice_delay_ms -------------------------------------------


def test_genesis_sets_the_notice_delay_cap(genesis: Genesis) -> None:  # noqa: F811
    chain = setup_world(
        open_core_chain(msgspec.structs.replace(genesis, max_notice_delay_ms=DAY_MS))
    )
    assert cases.get_max_notice_delay_ms(chain.state) == DAY_MS
    case_id = open_case(chain)
    too_long = authorize_body(chain, case_id, notice_delay_ms=DAY_MS + 1)
    assert chain.reject("court2", too_long) == "notice_delay_out_of_range"
    chain.send("court2", authorize_body(chain, case_id, notice_delay_ms=DAY_MS))
    assert chain.reject("court2", ExtendNotice(case_id, 2 * DAY_MS)) == "notice_delay_out_of_range"


def test_default_notice_delay_cap_is_not_stored(genesis: Genesis) -> None:  # noqa: F811
    chain = open_core_chain(genesis)
    assert chain.state.get("params", cases.PARAM_MAX_NOTICE_DELAY) is None
    assert cases.get_max_notice_delay_ms(chain.state) == MAX_NOTICE_DELAY_MS_DEFAULT


@pytest.mark.parametrize("delay", [-1, cases.MAX_NOTICE_DELAY_CAP_MS + 1])
def test_invalid_genesis_notice_delay_cap(genesis: Genesis, delay: int) -> None:  # noqa: F811
    with pytest.raises(InvalidGenesis, match="max_notice_delay_ms"):
        open_core_chain(msgspec.structs.replace(genesis, max_notice_delay_ms=delay))
