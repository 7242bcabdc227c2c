"""access.release and access.receipt: keys of an approved request go out once, only for the
approved categories and batches inside its window, only while every approving grant is in
force, never by an OEM for a sensitive category; the requester receipts each batch once."""

from __future__ import annotations

import msgspec
import pytest

from carchain.core import access_log
from carchain.core import access_releases as rel
from carchain.core.access_releases import ReleasedBatch
from tests.conftest import make_vin
from tests.core.memory import CoreChain, core_chain  # noqa: F401
from tests.core.sharing import (
    DAY_MS,
    UNTIL_MS,
    approved_request,
    batch,
    genesis,  # noqa: F401
    get_request,
    grant_body,
    header_hash,
    receipt_body,
    release_body,
    request_body,
    setup_world,
    suspend,
    transfer,
    withdraw_body,
)


@pytest.fixture
def world(chain: CoreChain) -> CoreChain:
    return setup_world(chain)


def kinds(world: CoreChain, vid: str = "saic:1") -> list[str]:
    return [e.kind for e in access_log.get_access_log_page(world.state, vid)]


# --- release -------------------------------------------------------------------------


def test_release_by_the_oem(world: CoreChain) -> None:
    seq = approved_request(world)
    result = world.send("saic", release_body(seq=seq))
    assert {e.type for e in result.events} >= {"access_released"}
    r = rel.get_release(world.state, "saic:1", seq)
    assert (r.releaser, r.releaser_member, r.categories, r.package_hash) == (
        world.key("saic").public_key,
        "saic",
        ["diagnostics"],
        b"p" * 32,
    )
    assert [b.header_hash for b in r.batches] == [header_hash(0), header_hash(1)]
    assert get_request(world, seq=seq).released_height == world.height
    assert kinds(world)[0] == "release"
    assert access_log.get_access_log_page(world.state, "saic:1")[0].detail == (b"p" * 32).hex()


def test_release_by_the_owner(world: CoreChain) -> None:
    seq = approved_request(world)
    world.send("owner-a", release_body(seq=seq))
    assert rel.get_release(world.state, "saic:1", seq).releaser_member == ""


def test_sensitive_release_by_the_owner_only(world: CoreChain) -> None:
    world.send("owner-a", grant_body(categories=("location",)))
    world.send("bosch", request_body(categories=("location",)))
    body = release_body(categories=("location",))
    assert world.reject("saic", body) == "sensitive_release_needs_owner"
    world.send("owner-a", body)
    assert rel.get_release(world.state, "saic:1", 0).categories == ["location"]


def test_invalid_release_of_refused_request(world: CoreChain) -> None:
    world.send("bosch", request_body())
    assert world.reject("saic", release_body()) == "request_not_approved"
    assert world.reject("owner-a", release_body()) == "request_not_approved"


def test_invalid_release_replayed(world: CoreChain) -> None:
    seq = approved_request(world)
    world.send("saic", release_body(seq=seq))
    assert world.reject("saic", release_body(seq=seq)) == "already_released"
    assert world.reject("owner-a", release_body(seq=seq)) == "already_released"
    raw = world.build("saic", release_body(seq=seq), nonce=world.nonce(world.key("saic")))
    assert world.submit(raw).error_code == "invalid_nonce"  # the same signed bytes again


def test_invalid_release_after_withdrawal(world: CoreChain) -> None:
    seq = approved_request(world)
    world.send("owner-a", withdraw_body())  # in force up to this block only
    assert world.reject("saic", release_body(seq=seq)) == "grant_not_in_force"
    assert world.reject("owner-a", release_body(seq=seq)) == "grant_not_in_force"


def test_release_in_the_withdrawal_block_is_still_in_force(world: CoreChain) -> None:
    seq = approved_request(world)
    assert world.submit(world.build("owner-a", withdraw_body())).ok
    assert world.submit(world.build("saic", release_body(seq=seq))).ok
    assert [r.code for r in world.block()] == [0, 0]


def test_invalid_release_after_expiry(world: CoreChain) -> None:
    world.send("owner-a", grant_body(expires_ms=world.now_ms + 3000))
    world.send("bosch", request_body())
    world.block()
    assert world.reject("saic", release_body()) == "grant_not_in_force"


def test_invalid_release_after_the_car_was_sold(world: CoreChain) -> None:
    seq = approved_request(world, "saic:2")
    transfer(world, "saic:2", "owner-a", "owner-c")
    assert world.reject("saic", release_body("saic:2", seq)) == "grant_not_in_force"
    # The previous owner is no longer anyone for this car.
    assert world.reject("owner-a", release_body("saic:2", seq)) == "unauthorized"


def test_invalid_release_when_the_requester_was_suspended(world: CoreChain) -> None:
    seq = approved_request(world)
    suspend(world, "bosch")
    assert world.reject("saic", release_body(seq=seq)) == "invalid_state"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"categories": ["diagnostics", "time"]}, "release_out_of_scope"),  # more than approved
        ({"categories": ["time"]}, "release_out_of_scope"),
        ({"categories": []}, "release_out_of_scope"),
        ({"batches": []}, "invalid_body"),
        ({"batches": [batch(n) for n in range(1025)]}, "invalid_body"),
        ({"batches": [batch(0), batch(0)]}, "invalid_body"),
        (
            {"batches": [ReleasedBatch(b"h" * 31, UNTIL_MS - 2 * DAY_MS, UNTIL_MS - 2 * DAY_MS)]},
            "invalid_body",
        ),
        (
            {"batches": [batch(0, start_ms=request_body().data_from_ms - 60_000)]},
            "release_out_of_scope",
        ),
        (
            {"batches": [batch(0, start_ms=request_body().data_until_ms - 30_000)]},
            "release_out_of_scope",
        ),
        (
            {
                "batches": [
                    ReleasedBatch(header_hash(0), UNTIL_MS - 3 * DAY_MS, UNTIL_MS - 4 * DAY_MS)
                ]
            },
            "release_out_of_scope",
        ),
        ({"package_hash": b"p" * 31}, "invalid_body"),
        ({"package_hash": b""}, "invalid_body"),
        ({"request_seq": 1}, "not_found"),
        ({"request_seq": -1}, "invalid_body"),
    ],
)
def test_invalid_release_body(world: CoreChain, change: dict[str, object], code: str) -> None:
    approved_request(world)
    assert world.reject("saic", msgspec.structs.replace(release_body(), **change)) == code


def test_release_of_the_most_batches(world: CoreChain) -> None:
    approved_request(world)
    world.send("saic", release_body(batches=rel.MAX_RELEASE_BATCHES))
    assert len(rel.get_release(world.state, "saic:1", 0).batches) == rel.MAX_RELEASE_BATCHES


@pytest.mark.parametrize(
    "forger", ["geely", "bosch", "pingan", "owner-b", "owner-prev", "stranger"]
)
def test_invalid_forged_release(world: CoreChain, forger: str) -> None:
    seq = approved_request(world)
    assert world.reject(forger, release_body(seq=seq)) == "unauthorized"
    assert world.last_check is not None and not world.last_check.ok  # refused at admission
    assert rel.get_release_optional(world.state, "saic:1", seq) is None


def test_invalid_release_for_unknown_vehicle(world: CoreChain) -> None:
    assert world.reject("saic", release_body("saic:404")) == "not_found"


# --- receipt -------------------------------------------------------------------------


def released(world: CoreChain) -> int:
    seq = approved_request(world)
    world.send("saic", release_body(seq=seq, batches=3))
    return seq


def test_receipt(world: CoreChain) -> None:
    seq = released(world)
    result = world.send("bosch", receipt_body(seq=seq, batches=(0, 2)))
    assert {e.type for e in result.events} >= {"access_receipted"}
    world.send("bosch", receipt_body(seq=seq, batches=(1,)))
    receipts = rel.get_receipts(world.state, "saic:1", seq)
    assert [[i.header_hash for i in r.items] for r in receipts] == [
        [header_hash(0), header_hash(2)],
        [header_hash(1)],
    ]
    assert [r.seq for r in receipts] == [0, 1]
    assert rel.get_receipts_optional(world.state, "saic:1", seq) == receipts
    assert kinds(world)[:2] == ["receipt", "receipt"]


def test_invalid_receipt_before_release(world: CoreChain) -> None:
    seq = approved_request(world)
    assert world.reject("bosch", receipt_body(seq=seq)) == "not_released"
    assert rel.get_receipts_optional(world.state, "saic:1", seq) is None


def test_invalid_receipt_of_batch_never_released(world: CoreChain) -> None:
    seq = released(world)
    assert world.reject("bosch", receipt_body(seq=seq, batches=(7,))) == "batch_not_released"
    assert world.reject("bosch", receipt_body(seq=seq, batches=(0, 7))) == "batch_not_released"


def test_invalid_receipt_twice_for_a_batch(world: CoreChain) -> None:
    seq = released(world)
    world.send("bosch", receipt_body(seq=seq, batches=(0,)))
    assert world.reject("bosch", receipt_body(seq=seq, batches=(0,))) == "already_receipted"
    assert world.reject("bosch", receipt_body(seq=seq, batches=(1, 0))) == "already_receipted"
    assert world.reject("bosch", receipt_body(seq=seq, batches=(1, 1))) == "invalid_body"


@pytest.mark.parametrize("who", ["saic", "geely", "pingan", "owner-a"])
def test_invalid_receipt_by_other_than_the_requester(world: CoreChain, who: str) -> None:
    seq = released(world)
    assert world.reject(who, receipt_body(seq=seq)) == "unauthorized"


def test_invalid_receipt_body(world: CoreChain) -> None:
    seq = released(world)
    body = receipt_body(seq=seq)
    item = body.items[0]
    for bad, code in [
        ([], "invalid_body"),
        ([msgspec.structs.replace(item, records_digest=b"d")], "invalid_body"),
        ([msgspec.structs.replace(item, header_hash=b"h" * 33)], "invalid_body"),
        ([msgspec.structs.replace(item, record_count=-1)], "invalid_body"),
        ([msgspec.structs.replace(item, record_count=2**32 + 1)], "invalid_body"),
    ]:
        assert world.reject("bosch", msgspec.structs.replace(body, items=bad)) == code
    assert world.reject("bosch", receipt_body(seq=seq + 1)) == "not_found"


# --- no personal data ------------------------------------------------------------------


def test_no_state_record_holds_plaintext_personal_data(world: CoreChain) -> None:
    seq = released(world)
    world.send("bosch", receipt_body(seq=seq, batches=(0, 1)))
    world.send("owner-a", withdraw_body())
    values = world.state.snapshot().values()
    for vid in ("saic:1", "saic:2", "geely:1", "saic:3"):
        assert not any(make_vin(vid).encode() in v for v in values)
    codes = {"maintenance_diagnostics", "no_grant", "0"}
    for event in access_log.get_access_log_page(world.state, "saic:1", limit=100):
        is_hex_digest = len(event.detail) == 64 and set(event.detail) <= set("0123456789abcdef")
        assert event.detail in codes or is_hex_digest or event.detail == "", event
        assert set(event.categories) <= {"diagnostics"}


# --- release after an erasure --------------------------------------------------------


def _erase(world: CoreChain, from_ms: int, until_ms: int) -> None:
    """The owner erases saic:1's diagnostics in the inclusive window; the OEM completes."""
    from carchain.core.erasure import CompleteErasure, RequestErasure, get_erasure_count

    seq = get_erasure_count(world.state, "saic:1")
    world.send("owner-a", RequestErasure("saic:1", ["diagnostics"], from_ms, until_ms))
    world.send("saic", CompleteErasure("saic:1", seq, [bytes(32)], bytes(32)))


@pytest.mark.parametrize("releaser", ["saic", "owner-a"])
def test_invalid_release_of_data_erased_after_the_approval(world: CoreChain, releaser: str) -> None:
    """The custodian said it destroyed the keys: a release of that scope is a lie, and
    the owner asked for the data to be gone. The erasure ends at the request's first ms."""
    seq = approved_request(world)
    start = get_request(world, seq=seq).data_from_ms
    _erase(world, start - DAY_MS, start)
    assert world.reject(releaser, release_body(seq=seq)) == "release_out_of_scope"
    assert get_request(world, seq=seq).released_height == 0


def test_release_after_an_erasure_outside_the_window(world: CoreChain) -> None:
    """An erasure that starts at the request's (exclusive) end leaves the release alone."""
    seq = approved_request(world)
    _erase(world, get_request(world, seq=seq).data_until_ms, UNTIL_MS)
    world.send("saic", release_body(seq=seq))
    assert rel.get_release(world.state, "saic:1", seq).request_seq == seq


def _change_roles(world: CoreChain, member_id: str, roles: list[str]) -> None:
    """Replace a member's roles by a governance vote of every other founder."""
    from carchain.core import governance as gov
    from tests.core.sharing import ROLE_FOUNDERS

    result = world.send("miit", gov.Propose(gov.ChangeRoles(member_id, roles)))
    created = next(e for e in result.events if e.type == "proposal_created")
    pid = int(created.attributes["proposal_id"])
    for voter, *_ in ROLE_FOUNDERS:
        if voter not in (member_id, "miit"):
            assert world.submit(world.build(voter, gov.Vote(pid, True))).ok
    world.block()
    assert gov.get_proposal(world.state, pid).status == "executed"


def test_invalid_release_when_the_requester_lost_the_granted_role(world: CoreChain) -> None:
    """A role-wide grant covers members while they hold the role: a requester approved as
    an insurer that is no longer one gets nothing released."""
    world.send(
        "owner-a",
        grant_body(purpose="insurance", recipient_id="", recipient_role="insurer"),
    )
    world.send("pingan", request_body(purpose="insurance"))
    assert get_request(world).decision == "approved"
    _change_roles(world, "pingan", ["service_provider"])
    assert world.reject("saic", release_body()) == "grant_not_in_force"
    assert get_request(world).released_height == 0


def test_invalid_release_once_an_erasure_is_requested(world: CoreChain) -> None:
    """The owner's erasure request stops processing at once (PIPL art. 47): an OEM that
    has not shredded yet, or is overdue, releases nothing of that scope meanwhile."""
    from carchain.core.erasure import RequestErasure, get_erasure

    seq = approved_request(world)
    start = get_request(world, seq=seq).data_from_ms
    world.send("owner-a", RequestErasure("saic:1", ["diagnostics"], start, start + DAY_MS))
    assert get_erasure(world.state, "saic:1", 0).status == "open"
    assert world.reject("saic", release_body(seq=seq)) == "release_out_of_scope"
    world.send("bosch", request_body())
    assert (get_request(world, seq=seq + 1).decision, get_request(world, seq=seq + 1).reason) == (
        "refused",
        "erased",
    )
