"""The custodian service against the chain's real rules (in-memory chain, fake gateway):
it releases its own shares of an authorised case's scope after quorum, and never before
quorum, out of scope, for an expired, closed or unauthorised case, for a case it did not
approve or declined, when it holds no seat, or before a local approval it requires —
even where the chain would accept the release."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from carchain.core.case_records import (
    DAY_MS,
    CloseCase,
    DeclineCase,
    ReleaseShares,
    ShareItem,
)
from carchain.core.cases import get_case
from carchain.core.escrow_committee import get_committee_for_epoch
from carchain.custodian.checks import scan_shares
from carchain.custodian.journal import (
    DECLINED,
    DONE,
    ENDED,
    WAITING,
    WATCHING,
)
from carchain.custodian.release import ReleaseContext, iter_chunks, post_items
from carchain.custodian.service import compute_chain_facts, run_custodian_loop
from carchain.data.custody import CategoryKeyEnvelope, decode_key_envelope
from carchain.data.escrow_shares import combine_category_key, reseal_share_for_officer
from carchain.errors import InvalidNonce, KeyCheckMismatch
from carchain.gateway.service import CustodyHealth
from carchain.sdk.officer import KeyRing, collect_shares
from tests.core.lawful_world import (
    CASE_CATEGORIES,
    EPOCH,
    EPOCH_MS,
    OFFICER,
    SAIC_CARS,
    approve,
    authorize_body,
    open_case,
    scope,
    setup_world,
)
from tests.core.lawful_world import genesis as genesis
from tests.core.memory import CoreChain
from tests.core.memory import core_chain as core_chain
from tests.custodian.world import ChainSender, CustodianWorld, FakeGateway

EPOCHS = [EPOCH, EPOCH + 1, EPOCH + 2]


@pytest.fixture
def world(chain: CoreChain, tmp_path: Path) -> Iterator[CustodianWorld]:
    """The lawful world with envelopes stored for both SAIC cars, 3 epochs, 2 categories
    (and, outside every case's scope, a third category)."""
    setup_world(chain)
    w = CustodianWorld(chain, tmp_path, FakeGateway(chain))
    w.store_scope(SAIC_CARS, EPOCHS, [*CASE_CATEGORIES, "motion"])
    yield w


def authorize(chain: CoreChain, expires_in_ms: int = 30 * DAY_MS, **scope_kw: object) -> int:
    """Open (police) and authorise (court2) a case; return its id."""
    case_scope = scope(**scope_kw)  # type: ignore[arg-type]
    case_id = open_case(chain, case_scope)
    chain.send("court2", authorize_body(chain, case_id, case_scope, expires_in_ms=expires_in_ms))
    return case_id


def full_scope() -> set[tuple[str, int, str]]:
    return {(v, e, c) for v in SAIC_CARS for e in EPOCHS for c in CASE_CATEGORIES}


def test_after_quorum_each_custodian_releases_its_own_shares_of_the_scope_once(
    world: CustodianWorld,
) -> None:
    case_id = authorize(world.chain)
    approve(world.chain, case_id, "court", "caam", "audit")
    caam = world.service("caam")
    assert caam.step() is True
    released = world.released(case_id)
    assert {(v, e, c) for _, v, e, c, _ in released} == full_scope()  # no motion: not in scope
    assert {(m, i) for m, *_, i in released} == {("caam", 2)}
    task = caam.journal.get_task_optional(case_id)
    assert task is not None and task.released == len(full_scope())
    caam.step()  # nothing twice: the chain holds them all now
    assert len(world.released(case_id)) == len(full_scope())
    task = caam.journal.get_task_optional(case_id)
    assert task is not None and task.state == DONE
    assert get_case(world.chain.state, case_id).released_keys == len(full_scope())


def test_k_releases_give_the_officer_every_key_and_fewer_give_none(world: CustodianWorld) -> None:
    case_id = authorize(world.chain)
    approve(world.chain, case_id, "court", "caam", "audit")
    officer = world.chain.key(OFFICER)
    case = get_case(world.chain.state, case_id)

    def ring() -> KeyRing:
        committee_of = lambda e: get_committee_for_epoch(world.chain.state, e)  # noqa: E731
        return KeyRing(collect_shares(world.chain.state, case, officer, committee_of), committee_of)

    def envelope_of(key: tuple[str, int, str]) -> Callable[[], CategoryKeyEnvelope]:
        return lambda: decode_key_envelope(world.gateway.envelopes[world.gateway.refs[key]])

    world.service("court").step()
    world.service("caam").step()
    two = ring()
    for key in full_scope():
        assert two.get_key(key, envelope_of(key)) is None  # 2 < k = 3: not even tried
        with pytest.raises(KeyCheckMismatch):  # and forcing it gives no key
            combine_category_key(sorted(two.shares[key].items()), envelope_of(key)())
    world.service("audit").step()
    three = ring()
    for key in full_scope():
        assert three.get_key(key, envelope_of(key)) == world.gateway.sealed[key]
    assert ("saic:1", EPOCH, "motion") not in three.shares  # out of scope: never released


def test_invalid_below_quorum_the_service_releases_nothing_and_reads_no_envelope(
    world: CustodianWorld,
) -> None:
    case_id = authorize(world.chain)
    approve(world.chain, case_id, "court", "caam")
    caam = world.service("caam")
    caam.step()
    assert world.released(case_id) == []
    assert world.gateway.reads == []
    task = caam.journal.get_task_optional(case_id)
    assert task is not None and task.state == WATCHING and "below quorum" in task.detail
    approve(world.chain, case_id, "audit")  # quorum now: the next round releases
    caam.step()
    assert len(world.released(case_id)) == len(full_scope())


def test_invalid_a_custodian_that_did_not_approve_does_not_release_though_the_chain_would(
    world: CustodianWorld,
) -> None:
    case_id = authorize(world.chain)
    approve(world.chain, case_id, "court", "audit", "saic")  # quorum without caam
    caam = world.service("caam")
    caam.step()
    assert world.released(case_id) == []
    task = caam.journal.get_task_optional(case_id)
    assert task is not None and task.state == WATCHING
    # the chain itself would take caam's share: the refusal is the service's own
    box = reseal_share_for_officer(b"\x01" * 32, case_id, "saic:1", EPOCH, "location", 1, 2,
                                   world.chain.key(OFFICER).public_key)  # fmt: skip
    world.chain.send(
        "caam", ReleaseShares(case_id, [ShareItem("saic:1", EPOCH, "location", 2, box)])
    )


def test_invalid_a_custodian_that_declined_never_releases(world: CustodianWorld) -> None:
    case_id = authorize(world.chain)
    approve(world.chain, case_id, "court", "audit", "saic")
    world.chain.send("caam", DeclineCase(case_id, "scope_too_broad"))
    caam = world.service("caam")
    caam.step()
    task = caam.journal.get_task_optional(case_id)
    assert task is not None and task.state == DECLINED and world.released(case_id) == []
    assert caam.journal.get_open_tasks(10) == []


def test_invalid_a_member_without_a_seat_releases_nothing(world: CustodianWorld) -> None:
    case_id = authorize(world.chain)
    approve(world.chain, case_id, "court", "caam", "audit")
    geely = world.service("geely")  # an OEM, but not of the scope's vehicles
    geely.step()
    task = geely.journal.get_task_optional(case_id)
    assert task is not None and task.state == WATCHING  # it did not approve (could not)
    pingan = world.service("pingan")
    case = get_case(world.chain.state, case_id)
    assert scan_shares(case, "pingan", compute_chain_facts(world.chain.state, case_id)).seats == 0
    pingan.step()
    assert world.released(case_id) == [] and world.gateway.reads == []


def test_invalid_an_expired_case_is_ended_without_release(world: CustodianWorld) -> None:
    case_id = authorize(world.chain, expires_in_ms=10_000)
    approve(world.chain, case_id, "court", "caam", "audit")
    world.chain.now_ms = get_case(world.chain.state, case_id).expires_ms
    caam = world.service("caam")
    caam.step()
    task = caam.journal.get_task_optional(case_id)
    assert task is not None and task.state == ENDED and "expired" in task.detail
    assert world.released(case_id) == [] and world.gateway.reads == []


def test_invalid_a_closed_case_is_ended_without_release(world: CustodianWorld) -> None:
    case_id = authorize(world.chain)
    approve(world.chain, case_id, "court", "caam", "audit")
    world.chain.send("police", CloseCase(case_id))
    caam = world.service("caam")
    caam.step()
    task = caam.journal.get_task_optional(case_id)
    assert task is not None and task.state == ENDED
    assert world.released(case_id) == [] and world.gateway.reads == []


def test_invalid_an_open_case_is_watched_not_released(world: CustodianWorld) -> None:
    case_id = open_case(world.chain, scope())
    caam = world.service("caam")
    caam.step()
    task = caam.journal.get_task_optional(case_id)
    assert task is not None and task.state == WATCHING and "not authorized" in task.detail


def test_invalid_nothing_outside_the_authorised_scope_is_released(world: CustodianWorld) -> None:
    opened = scope()
    case_id = open_case(world.chain, opened)
    narrow = scope(["saic:2"], ["location"], EPOCH_MS + DAY_MS, EPOCH_MS + 2 * DAY_MS)
    world.chain.send("court2", authorize_body(world.chain, case_id, narrow))
    approve(world.chain, case_id, "court", "caam", "audit")
    world.service("caam").step()
    assert {(v, e, c) for _, v, e, c, _ in world.released(case_id)} == {
        ("saic:2", EPOCH + 1, "location")
    }


def test_local_approval_holds_the_release_until_custodian_approve(world: CustodianWorld) -> None:
    case_id = authorize(world.chain)
    approve(world.chain, case_id, "court", "caam", "audit")
    caam = world.service("caam", require_local_approval=True)
    caam.step()
    task = caam.journal.get_task_optional(case_id)
    assert task is not None and task.state == WAITING and world.released(case_id) == []
    assert [t.case_id for t in caam.journal.get_tasks_in(WAITING)] == [case_id]
    caam.step()  # still held
    assert world.released(case_id) == []
    caam.journal.approve_locally(case_id, world.chain.now_ms)
    caam.step()
    assert len(world.released(case_id)) == len(full_scope())


def test_invalid_a_local_approval_never_overrides_the_chain(world: CustodianWorld) -> None:
    case_id = authorize(world.chain)
    approve(world.chain, case_id, "court", "caam")  # below quorum
    caam = world.service("caam", require_local_approval=True)
    caam.journal.add_cases_and_advance(case_id)
    caam.journal.approve_locally(case_id, world.chain.now_ms)
    caam.step()
    assert world.released(case_id) == [] and world.gateway.reads == []


def test_a_failing_case_is_recorded_and_the_round_goes_on(world: CustodianWorld) -> None:
    bad = authorize(world.chain, vehicles=["saic:1"])
    good = authorize(world.chain, vehicles=["saic:2"])
    approve(world.chain, bad, "court", "caam", "audit")
    approve(world.chain, good, "court", "caam", "audit")
    real = world.gateway.case_batches

    def flaky(case_id: int, *args: object) -> object:
        if case_id == bad:
            raise RuntimeError("a bug on this case's data")
        return real(case_id, *args)  # type: ignore[arg-type]

    world.gateway.case_batches = flaky  # type: ignore[method-assign,assignment]
    caam = world.service("caam")
    caam.step()
    task = caam.journal.get_task_optional(bad)
    assert task is not None and task.state == WATCHING and task.detail == "error: RuntimeError"
    assert world.released(bad) == [] and len(world.released(good)) == 6


def test_release_items_are_sent_in_chunks_of_at_most_256() -> None:
    items = [ShareItem("saic:1", i, "location", 2, b"") for i in range(600)]
    assert [len(c) for c in iter_chunks(items)] == [256, 256, 88]


def test_the_service_never_votes(world: CustodianWorld) -> None:
    case_id = authorize(world.chain)
    caam = world.service("caam")
    caam.step()
    approve(world.chain, case_id, "court", "audit", "saic")
    caam.step()
    case = get_case(world.chain.state, case_id)
    assert "caam" not in {v.member_id for v in [*case.approvals, *case.declines]}
    sender = caam.ctx.account
    assert isinstance(sender, ChainSender) and sender.sent == []


def test_invalid_a_vehicle_whose_oem_has_no_gateway_is_a_recorded_typed_error(
    world: CustodianWorld,
) -> None:
    case_id = authorize(world.chain, vehicles=["geely:1"])
    approve(world.chain, case_id, "court", "caam", "audit")
    caam = world.service("caam")
    caam.step()
    task = caam.journal.get_task_optional(case_id)
    assert task is not None and task.state == WATCHING
    assert task.detail == "error: gateway_not_configured" and world.released(case_id) == []


def test_the_loop_survives_an_unexpected_exception_and_backs_off() -> None:
    stop = threading.Event()
    calls: list[int] = []

    class Flaky:
        def step(self) -> bool:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("secret data in the message")
            stop.set()
            return False

    health = CustodyHealth()
    run_custodian_loop(Flaky(), health, stop, 0.01)  # type: ignore[arg-type]
    assert len(calls) == 2 and health.total_errors == 1 and health.errors == 0
    assert "RuntimeError" in health.last_error and "secret" not in health.last_error


def test_invalid_an_approval_by_a_custodian_turned_law_enforcement_does_not_count(
    world: CustodianWorld,
) -> None:

    case_id = authorize(world.chain)
    approve(world.chain, case_id, "court", "caam", "audit")
    from tests.core.test_case_conflicted_custodians import make_police

    make_police(world.chain, "audit")  # governance refuses it now: as an older chain holds
    caam = world.service("caam")
    caam.step()
    assert world.released(case_id) == [] and world.gateway.reads == []
    task = caam.journal.get_task_optional(case_id)
    assert task is not None and task.state == WATCHING and "below quorum" in task.detail


def test_invalid_one_bad_envelope_or_key_ref_from_a_gateway_blocks_only_its_own_share(
    world: CustodianWorld,
) -> None:
    # A lying (or broken) gateway answers one key with another key's envelope and names a
    # malformed key_ref for another: those two shares are not released (nothing is
    # resealed from the wrong envelope), every other share of the case still is.
    case_id = authorize(world.chain)
    approve(world.chain, case_id, "court", "caam", "audit")
    gw = world.gateway
    swapped = ("saic:1", EPOCH, "crash_pulse")
    gw.envelopes[gw.refs[swapped]] = gw.envelopes[gw.refs[("saic:2", EPOCH, "crash_pulse")]]
    broken = ("saic:2", EPOCH + 1, "location")
    gw.refs[broken] = b"not hex"  # type: ignore[assignment]
    real_batches = gw.case_batches

    def lying_batches(case: int, vid: str, start: int, end: int) -> list[dict[str, Any]]:
        docs = real_batches(case, vid, start, end)
        for doc in docs:
            for seg in doc["segments"]:
                if seg["key_ref"] == b"not hex".hex():
                    seg["key_ref"] = "zz-not-hex"
        return docs

    gw.case_batches = lying_batches  # type: ignore[method-assign]
    caam = world.service("caam")
    caam.step()
    released = {(v, e, c) for _, v, e, c, _ in world.released(case_id)}
    assert released == full_scope() - {swapped, broken}


def test_invalid_no_release_for_the_case_of_a_suspended_authority(world: CustodianWorld) -> None:
    from carchain.core import governance as gov
    from tests.core.lawful_world import govern

    case_id = authorize(world.chain)
    approve(world.chain, case_id, "court", "caam", "audit")
    assert govern(world.chain, gov.SuspendMember("police")).status == "executed"
    caam = world.service("caam")
    caam.step()
    assert world.released(case_id) == [] and world.gateway.reads == []
    task = caam.journal.get_task_optional(case_id)
    assert task is not None and task.state == WATCHING


def test_invalid_one_custodians_garbage_shares_do_not_stop_the_officer_decrypting(
    world: CustodianWorld,
) -> None:
    # caam approves, then posts for one key a box that opens for no one and for another a
    # well-sealed wrong share. The other k custodians' shares still give every key.
    case_id = authorize(world.chain)
    approve(world.chain, case_id, "court", "caam", "audit", "saic")
    officer = world.chain.key(OFFICER)
    bad_box = ("saic:1", EPOCH, "location")
    wrong_share = ("saic:2", EPOCH, "crash_pulse")
    junk = reseal_share_for_officer(b"\x07" * 32, case_id, *wrong_share, 1, 2, officer.public_key)
    items = [ShareItem(*bad_box, 2, b"\x00" * 80), ShareItem(*wrong_share, 2, junk)]
    world.chain.send("caam", ReleaseShares(case_id, items))
    for member in ("court", "audit", "saic"):
        world.service(member).step()
    case = get_case(world.chain.state, case_id)
    committee_of = lambda e: get_committee_for_epoch(world.chain.state, e)  # noqa: E731
    ring = KeyRing(collect_shares(world.chain.state, case, officer, committee_of), committee_of)
    for key in full_scope():
        raw = world.gateway.envelopes[world.gateway.refs[key]]
        assert (
            ring.get_key(key, lambda raw=raw: decode_key_envelope(raw))
            == (world.gateway.sealed[key])
        )


class RacingSender:
    """A sender whose member's other signer takes the nonce ``races`` times first."""

    def __init__(self, races: int) -> None:
        self.races = races
        self.sent: list[Any] = []

    def send(self, body: Any) -> dict[str, Any]:
        if self.races:
            self.races -= 1
            raise InvalidNonce("nonce taken", expected=7)
        self.sent.append(body)
        return {"height": 1}


def test_a_nonce_taken_by_the_members_other_signer_is_sent_again_once() -> None:
    items = [ShareItem("saic:1", i, "location", 2, b"") for i in range(300)]
    sender = RacingSender(races=1)
    ctx = ReleaseContext(cast(Any, None), sender, {}, [])
    assert post_items(ctx, 4, items) == 300
    assert [len(b.items) for b in sender.sent] == [256, 44]
    assert all(b.case_id == 4 for b in sender.sent)


def test_invalid_a_nonce_refused_twice_goes_up_with_nothing_counted() -> None:
    items = [ShareItem("saic:1", 0, "location", 2, b"")]
    sender = RacingSender(races=2)
    with pytest.raises(InvalidNonce):
        post_items(ReleaseContext(cast(Any, None), sender, {}, []), 4, items)
    assert sender.sent == []
