"""The cast of the lawful-access tests: courts, custodians, police, cars, a committee.

A test module imports ``genesis`` (overriding tests/conftest.py's) and the core
chain fixture::

    from tests.core.lawful_world import genesis  # noqa: F401
    from tests.core.memory import CoreChain, core_chain  # noqa: F401

``setup_world`` registers ``saic:1``, ``saic:2`` (owner-a) and ``geely:1``
(owner-b), registers escrow keys and sets the committee ``court`` (court),
``caam`` (association), ``audit`` (auditor) and the vehicle-OEM seat, 3 of 4,
in force from ``EPOCH``. ``authorized_case`` opens (police) and authorises
(court2) a case over both saic cars (and optionally geely:1).
"""

from __future__ import annotations

import hashlib
import itertools

import msgspec
import pytest

from carchain.core import cases, members
from carchain.core import governance as gov
from carchain.core.case_records import (
    DAY_MS,
    VEHICLE_OEM_SEAT,
    ApproveCase,
    AuthorizeCase,
    Case,
    CaseScope,
    CommitteeSeat,
    OpenCase,
    RegisterEscrowKey,
    ReleaseShares,
    ShareItem,
)
from carchain.core.escrow_committee import SetEscrowCommittee, compute_epoch
from carchain.core.genesis import Genesis
from carchain.core.vehicles import RegisterVehicle
from carchain.sdk.vin import compute_vin_commitment
from tests.conftest import FOUNDERS, GENESIS_TIME_MS, VIN_SALT, make_genesis, make_vin
from tests.core.memory import CoreChain

LAWFUL_MEMBERS: tuple[tuple[str, str, list[str], int], ...] = (
    *FOUNDERS,
    ("police2", "Criminal Police", ["law_enforcement"], 0),
    ("court", "Shanghai Court", ["court"], 0),
    ("court2", "Beijing Court", ["court"], 0),
    ("judgecop", "Court and Police", ["court", "law_enforcement"], 0),
    ("audit", "Independent Auditor", ["auditor"], 0),
    ("caam", "CAAM", ["association"], 0),
    ("pingan", "Ping An Insurance", ["insurer"], 0),
)
CUSTODIAN_MEMBERS = ("court", "caam", "audit")
SEATS = [
    CommitteeSeat("court", "court"),
    CommitteeSeat("caam", "association"),
    CommitteeSeat("audit", "auditor"),
    CommitteeSeat(VEHICLE_OEM_SEAT, "oem"),
]
ESCROWED = ["audio_video", "biometrics", "crash_pulse", "location", "motion"]
# The committee set in the first blocks is in force from the next UTC day.
EPOCH = compute_epoch(GENESIS_TIME_MS) + 1
EPOCH_MS = EPOCH * DAY_MS
CASE_CATEGORIES = ["crash_pulse", "location"]
SAIC_CARS = ["saic:1", "saic:2"]
ALL_CARS = ["geely:1", "saic:1", "saic:2"]
OFFICER = "officer"
_BOX_COUNTER = itertools.count()


@pytest.fixture
def genesis() -> Genesis:
    """The founders plus courts, custodians, a second police and an insurer."""
    return make_genesis(founders=LAWFUL_MEMBERS)


def register(chain: CoreChain, vid: str, owner: str) -> None:
    """Register ``vid`` (by the OEM of its namespace) owned by the key ``owner``."""
    body = RegisterVehicle(
        vid,
        compute_vin_commitment(make_vin(vid), VIN_SALT),
        chain.key("vehicle/" + vid).public_key,
        "Roewe RX5",
        2024,
        chain.key(owner).public_key,
    )
    chain.send(vid.split(":")[0], body)


def escrow_key_name(member_id: str) -> str:
    """Return the name of the member's escrow key in ``chain.key``."""
    return "escrow/" + member_id


def register_escrow_key(chain: CoreChain, member_id: str) -> None:
    """Register the member's escrow key."""
    chain.send(member_id, RegisterEscrowKey(chain.key(escrow_key_name(member_id)).public_key))


def govern(chain: CoreChain, action: gov.Action) -> gov.Proposal:
    """Propose ``action`` (miit) and have every other member vote yes; return the proposal."""
    result = chain.send("miit", gov.Propose(action))
    created = next(e for e in result.events if e.type == "proposal_created")
    pid = int(created.attributes["proposal_id"])
    for voter, *_ in LAWFUL_MEMBERS:
        if voter != "miit" and members.get_member(chain.app.state, voter).status == "active":
            assert chain.submit(chain.build(voter, gov.Vote(pid, True))).ok
    chain.block()  # one block: the votes after the deciding one fail (proposal closed)
    # A vote refused in the block (its voter just suspended) consumed no nonce.
    chain._last.clear()
    return gov.get_proposal(chain.app.state, pid)


def committee_action(
    seats: list[CommitteeSeat] | None = None,
    threshold: int = 3,
    categories: list[str] | None = None,
) -> SetEscrowCommittee:
    """Return the ``SetEscrowCommittee`` action (default: the world's 3 of 4)."""
    return SetEscrowCommittee(
        SEATS if seats is None else seats, threshold, ESCROWED if categories is None else categories
    )


def set_committee(chain: CoreChain, action: SetEscrowCommittee | None = None) -> None:
    """Set the committee through governance; the proposal must execute."""
    proposal = govern(chain, action or committee_action())
    assert proposal.status == "executed", proposal.outcome


def setup_world(chain: CoreChain) -> CoreChain:
    """Register the cars, the custodians' escrow keys and the committee; return the chain."""
    register(chain, "saic:1", "owner-a")
    register(chain, "saic:2", "owner-a")
    register(chain, "geely:1", "owner-b")
    for member_id in CUSTODIAN_MEMBERS:
        register_escrow_key(chain, member_id)
    set_committee(chain)
    return chain


def scope(
    vehicles: list[str] | None = None,
    categories: list[str] | None = None,
    from_ms: int = EPOCH_MS,
    until_ms: int = EPOCH_MS + 3 * DAY_MS,
) -> CaseScope:
    """Return a case scope (default: both saic cars, crash pulse and location, 3 days)."""
    return CaseScope(
        SAIC_CARS if vehicles is None else vehicles,
        CASE_CATEGORIES if categories is None else categories,
        from_ms,
        until_ms,
    )


def digest(label: str) -> bytes:
    """Return a made-up SHA-256 digest."""
    return hashlib.sha256(label.encode()).digest()


def open_body(chain: CoreChain, case_scope: CaseScope | None = None) -> OpenCase:
    """Return a ``case.open`` body under accident investigation with the officer's key."""
    return OpenCase(
        digest("case-ref"),
        "rtsl_accident",
        case_scope or scope(),
        digest("justification"),
        chain.key(OFFICER).public_key,
    )


def authorize_body(
    chain: CoreChain,
    case_id: int = 1,
    case_scope: CaseScope | None = None,
    expires_in_ms: int = 30 * DAY_MS,
    notice_delay_ms: int = 60 * DAY_MS,
) -> AuthorizeCase:
    """Return a ``case.authorize`` body expiring ``expires_in_ms`` after the next block."""
    expires = chain.now_ms + expires_in_ms
    return AuthorizeCase(case_id, case_scope or scope(), expires, notice_delay_ms)


def open_case(chain: CoreChain, case_scope: CaseScope | None = None, by: str = "police") -> int:
    """Open a case; return its id."""
    chain.send(by, open_body(chain, case_scope))
    return cases.get_case_count(chain.app.state)


def authorized_case(
    chain: CoreChain, vehicles: list[str] | None = None, notice_delay_ms: int = 60 * DAY_MS
) -> int:
    """Open (police) and authorise (court2) a case over ``vehicles``; return its id."""
    case_scope = scope(vehicles)
    case_id = open_case(chain, case_scope)
    body = authorize_body(chain, case_id, case_scope, notice_delay_ms=notice_delay_ms)
    chain.send("court2", body)
    return case_id


def approve(chain: CoreChain, case_id: int, *voters: str) -> None:
    """Have each of ``voters`` approve the case."""
    for voter in voters:
        chain.send(voter, ApproveCase(case_id))


def box(label: str = "box") -> bytes:
    """Return an 80-byte made-up share box (HPKE enc + 32-byte share + tag)."""
    return hashlib.sha512(label.encode()).digest()[:40] * 2


def item(
    vehicle_id: str = "saic:1",
    epoch: int = EPOCH,
    category: str = "crash_pulse",
    index: int = 2,
    label: str = "",
) -> ShareItem:
    """Return a share item (default: caam's seat 2, saic:1, first epoch, crash pulse)
    whose box is made from ``label``; without one, a box never made before (as a
    custodian's HPKE reseal: the chain refuses a box it has seen)."""
    made = label or f"{vehicle_id}/{epoch}/{category}/{index}/{next(_BOX_COUNTER)}"
    return ShareItem(vehicle_id, epoch, category, index, box(made))


def release_body(case_id: int, *items: ShareItem) -> ReleaseShares:
    """Return an ``escrow.release`` body (default: one item)."""
    return ReleaseShares(case_id, list(items) or [item()])


def get_case(chain: CoreChain, case_id: int = 1) -> Case:
    """Return the committed case."""
    return cases.get_case(chain.app.state, case_id)


def replace(body: msgspec.Struct, **changes: object) -> msgspec.Struct:
    """Return ``body`` with ``changes``."""
    return msgspec.structs.replace(body, **changes)
