"""``escrow.release`` and ``case.receipt``: quorum, exact scope, each share once per case,
suspended custodians, expiry, the officer's receipts."""

from __future__ import annotations

import pytest

from carchain.core import escrow_releases as er
from carchain.core import governance as gov
from carchain.core.case_records import (
    DAY_MS,
    MAX_RELEASE_ITEMS,
    CaseReceipt,
    CloseCase,
    DeclineCase,
    ReceiptItemRef,
    ShareItem,
)
from tests.core.lawful_world import (
    ALL_CARS,
    EPOCH,
    EPOCH_MS,
    OFFICER,
    approve,
    authorize_body,
    authorized_case,
    digest,
    genesis,  # noqa: F401
    get_case,
    govern,
    item,
    open_case,
    release_body,
    scope,
    setup_world,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401


@pytest.fixture
def world(chain: CoreChain) -> CoreChain:
    return setup_world(chain)


@pytest.fixture
def at_quorum(world: CoreChain) -> CoreChain:
    """Case 1 over both saic cars and geely:1, approved by court, caam and saic."""
    case_id = authorized_case(world, ALL_CARS)
    approve(world, case_id, "court", "caam", "saic")
    return world


def receipt(case_id: int = 1, vid: str = "saic:1", *batches: int) -> CaseReceipt:
    refs = [ReceiptItemRef(digest(f"batch-{n}"), 5, digest(f"rec-{n}")) for n in batches or (0,)]
    return CaseReceipt(case_id, vid, refs)


# --- quorum -------------------------------------------------------------------------


def test_release_at_quorum_by_each_seat_holder(at_quorum: CoreChain) -> None:
    chain = at_quorum
    chain.send("court", release_body(1, item(index=1)))
    chain.send("caam", release_body(1, item(index=2)))
    chain.send("audit", release_body(1, item(index=3)))  # a custodian that did not vote
    chain.send("saic", release_body(1, item(index=4)))  # the vehicle-OEM seat
    assert [r.custodian for r in er.get_releases(chain.state, 1)] == [
        "court",
        "caam",
        "audit",
        "saic",
    ]
    assert get_case(chain).released_keys == 4
    assert er.get_vehicle_share_count(chain.state, 1, "saic:1") == 4


def test_invalid_release_below_quorum(world: CoreChain) -> None:
    case_id = authorized_case(world)
    assert world.reject("caam", release_body(case_id)) == "quorum_not_reached"
    approve(world, case_id, "court", "caam")  # k - 1 = 2 approvals
    assert world.reject("caam", release_body(case_id)) == "quorum_not_reached"
    assert world.last_check is not None and world.last_check.ok  # admitted, refused by the rules
    approve(world, case_id, "audit")
    world.send("caam", release_body(case_id))


def test_invalid_quorum_counts_the_vehicle_oem_seat_per_vehicle(at_quorum: CoreChain) -> None:
    # saic approved: that fills the OEM seat for saic's cars, not for geely's.
    geely = item("geely:1", index=2)
    assert at_quorum.reject("caam", release_body(1, geely)) == "quorum_not_reached"
    approve(at_quorum, 1, "geely")
    at_quorum.send("caam", release_body(1, geely))


def test_invalid_suspended_custodian_approval_no_longer_counts(at_quorum: CoreChain) -> None:
    chain = at_quorum
    assert govern(chain, gov.SuspendMember("court")).status == "executed"
    assert chain.reject("caam", release_body(1)) == "quorum_not_reached"
    assert govern(chain, gov.ReinstateMember("court")).status == "executed"
    chain.send("caam", release_body(1))


def test_invalid_declines_do_not_count(world: CoreChain) -> None:
    case_id = authorized_case(world)
    approve(world, case_id, "court", "caam")
    world.send("audit", DeclineCase(case_id, "scope_too_broad"))
    assert world.reject("caam", release_body(case_id)) == "quorum_not_reached"


# --- scope --------------------------------------------------------------------------


def test_invalid_release_outside_the_scope(world: CoreChain) -> None:
    case_id = open_case(world, scope(ALL_CARS))
    narrow = scope(["saic:1"], ["crash_pulse"], EPOCH_MS + DAY_MS, EPOCH_MS + 2 * DAY_MS)
    world.send("court2", authorize_body(world, case_id, narrow))
    approve(world, case_id, "court", "caam", "saic")
    epoch = EPOCH + 1
    outside = [
        item("saic:2", epoch),  # opened but not authorised
        item("geely:1", epoch),
        item("saic:9", epoch),
        item("saic:1", EPOCH),  # the day before the window
        item("saic:1", EPOCH + 2),  # the day after
        item("saic:1", epoch, "location"),  # opened, not authorised
        item("saic:1", epoch, "motion"),  # escrowed, never in the case
        item("saic:1", epoch, "diagnostics"),  # not even escrowed
    ]
    for share in outside:
        code = world.reject("caam", release_body(case_id, share))
        assert code == "case_release_out_of_scope", (share, code)
    world.send("caam", release_body(case_id, item("saic:1", epoch)))
    # One bad item refuses the whole release: nothing of it is stored.
    mixed = release_body(case_id, item("saic:1", epoch, index=2, label="x"), item("saic:2", epoch))
    assert world.reject("caam", mixed) in {"share_already_released", "case_release_out_of_scope"}


def test_invalid_release_of_another_seat(at_quorum: CoreChain) -> None:
    chain = at_quorum
    assert chain.reject("caam", release_body(1, item(index=1))) == "not_case_custodian"
    assert chain.reject("caam", release_body(1, item(index=5))) == "not_case_custodian"
    assert chain.reject("caam", release_body(1, item(index=0))) == "not_case_custodian"
    # The OEM seat of a saic car is saic's, never geely's (nor the other way round).
    assert chain.reject("geely", release_body(1, item(index=4))) == "not_case_custodian"
    assert chain.reject("saic", release_body(1, item("geely:1", index=4))) == "not_case_custodian"
    assert chain.reject("police", release_body(1, item(index=2))) == "not_case_custodian"


def test_invalid_share_released_twice(at_quorum: CoreChain) -> None:
    chain = at_quorum
    chain.send("caam", release_body(1, item()))
    assert chain.reject("caam", release_body(1, item(label="again"))) == "share_already_released"
    twice = release_body(1, item("saic:2"), item("saic:2", label="again"))
    assert chain.reject("caam", twice) == "share_already_released"


def test_share_marker_is_per_case_and_a_box_is_never_replayed(at_quorum: CoreChain) -> None:
    """The same key's share may go to a second case, in a box sealed for that case
    (``data.escrow_shares``); the box released in the first case is refused there."""
    chain = at_quorum
    first = item()
    chain.send("caam", release_body(1, first))
    second = authorized_case(chain)
    assert chain.reject("caam", release_body(second, item(label="case2"))) == "quorum_not_reached"
    approve(chain, second, "court", "caam", "saic")
    assert chain.reject("caam", release_body(second, first)) == "share_box_replayed"
    # Nor may another seat, vehicle or epoch carry a box seen before.
    copied = ShareItem("saic:2", EPOCH, "crash_pulse", 2, first.box)
    assert chain.reject("caam", release_body(second, copied)) == "share_box_replayed"
    chain.send("caam", release_body(second, item(label="case2")))
    assert get_case(chain, 1).released_keys == get_case(chain, second).released_keys == 1


def test_invalid_release_bodies(at_quorum: CoreChain) -> None:
    chain = at_quorum
    assert (
        chain.reject("caam", release_body(1, ShareItem("saic:1", EPOCH, "crash_pulse", 2, b"x")))
        == "invalid_body"
    )
    too_many = [
        item("saic:1", EPOCH, "crash_pulse", 2, str(n)) for n in range(MAX_RELEASE_ITEMS + 1)
    ]
    assert chain.reject("caam", er.ReleaseShares(1, too_many)) in {"invalid_body", "tx_too_large"}
    assert chain.reject("caam", er.ReleaseShares(1, [])) == "invalid_body"
    assert chain.reject("caam", release_body(2)) == "not_found"
    assert chain.reject("caam", release_body(-1)) == "invalid_body"


def test_invalid_release_after_expiry_or_close(world: CoreChain) -> None:
    case_id = open_case(world)
    world.send("court2", authorize_body(world, case_id, expires_in_ms=5 * DAY_MS))
    approve(world, case_id, "court", "caam", "saic")
    world.send("caam", release_body(case_id, item()))
    world.now_ms = get_case(world).expires_ms
    assert world.reject("caam", release_body(case_id, item("saic:2"))) == "case_expired"
    world.send("police", CloseCase(case_id))
    assert world.reject("caam", release_body(case_id, item("saic:2"))) == "case_not_authorized"


# --- receipts -----------------------------------------------------------------------


def test_officer_receipts_each_batch_once(at_quorum: CoreChain) -> None:
    chain = at_quorum
    assert chain.reject(OFFICER, receipt(1, "saic:1", 0)) == "no_shares_released"
    chain.send("caam", release_body(1, item()))
    chain.send(OFFICER, receipt(1, "saic:1", 0, 1))
    [stored] = er.get_receipts(chain.state, 1)
    assert stored.signer == chain.key(OFFICER).public_key and stored.vehicle_id == "saic:1"
    assert chain.reject(OFFICER, receipt(1, "saic:1", 1)) == "case_already_receipted"
    assert chain.reject(OFFICER, receipt(1, "saic:1", 2, 2)) == "invalid_body"
    assert chain.reject(OFFICER, receipt(1, "saic:2", 5)) == "no_shares_released"
    assert chain.reject(OFFICER, receipt(1, "geely:9", 5)) == "case_release_out_of_scope"
    chain.send(OFFICER, receipt(1, "saic:1", 2))
    assert er.get_receipt_count(chain.state, 1) == 2


def test_invalid_receipt_by_anyone_but_the_officer(at_quorum: CoreChain) -> None:
    chain = at_quorum
    chain.send("caam", release_body(1, item()))
    for other in ("police", "caam", "court2", "owner-a"):
        assert chain.reject(other, receipt(1, "saic:1", 0)) == "not_case_party"
    assert chain.reject(OFFICER, receipt(7, "saic:1", 0)) == "not_found"


def test_share_box_size_is_an_hpke_box_of_a_share() -> None:
    """The core's box size (it may not import crypto.sealing) is what sealing makes."""
    from carchain.core.escrow_releases import SHARE_BOX_SIZE
    from carchain.crypto.sealing import ENC_SIZE, seal_to
    from carchain.crypto.signing import SigningKey

    box = seal_to(SigningKey.generate().public_key, bytes(32), b"info")
    assert SHARE_BOX_SIZE == ENC_SIZE + 32 + 16 == len(box)
