"""The cast of the erasure and legal-hold tests: a genesis with courts, an insurer and
an auditor beside the founders; vehicles with owners; body builders; a clock driver.

A test module imports ``genesis`` (overriding tests/conftest.py's) and the core
chain fixture: ``from tests.core.erasure_world import erasure_genesis  # noqa: F401``.
"""

from __future__ import annotations

import hashlib

import pytest

from carchain.core import erasure as er
from carchain.core import holds
from carchain.core.genesis import Genesis
from carchain.core.vehicles import RegisterVehicle, TransferVehicle
from carchain.crypto.signing import SigningKey
from carchain.sdk.transactions import sign_transfer_consent
from carchain.sdk.vin import compute_vin_commitment
from tests.conftest import CHAIN_ID, FOUNDERS, VIN_SALT, make_genesis, make_vin, seeded_key
from tests.core.memory import CoreChain

EXTRA_MEMBERS: tuple[tuple[str, str, list[str], int], ...] = (
    ("court1", "People's Court 1", ["court"], 0),
    ("court2", "People's Court 2", ["court"], 0),
    ("insurer", "PICC", ["insurer"], 0),
    ("auditor", "Auditor", ["auditor"], 0),
)
OWNER = seeded_key("erasure/owner")
OTHER_OWNER = seeded_key("erasure/other-owner")
NEW_OWNER = seeded_key("erasure/new-owner")
STRANGER = seeded_key("erasure/stranger")
VID = "saic:1"
OTHER_VID = "saic:2"
CATEGORIES = ["diagnostics", "location"]
FROM_MS, UNTIL_MS = 1_000, 2_000
DAY_MS = 86_400_000


@pytest.fixture(name="genesis")
def erasure_genesis() -> Genesis:
    """The founders plus two courts, an insurer and an auditor."""
    return make_genesis(founders=FOUNDERS + EXTRA_MEMBERS)


def register(chain: CoreChain, vid: str = VID, owner: SigningKey = OWNER) -> None:
    """Register ``vid`` under its OEM with ``owner``."""
    body = RegisterVehicle(
        vid,
        compute_vin_commitment(make_vin(vid), VIN_SALT),
        seeded_key("vehicle/" + vid).public_key,
        "Roewe RX5",
        2024,
        owner.public_key,
    )
    chain.send(vid.split(":")[0], body)


def transfer(chain: CoreChain, vid: str, old: SigningKey, new: SigningKey, seq: int = 0) -> None:
    """Hand ``vid`` from ``old`` to ``new`` (OEM-signed, owner-consented)."""
    sig = sign_transfer_consent(CHAIN_ID, old, vid, new.public_key, seq)
    chain.send(vid.split(":")[0], TransferVehicle(vid, new.public_key, sig))


def request_body(
    vid: str = VID,
    categories: list[str] | None = None,
    from_ms: int = FROM_MS,
    until_ms: int = UNTIL_MS,
) -> er.RequestErasure:
    """An erasure request body."""
    return er.RequestErasure(
        vid, CATEGORIES if categories is None else categories, from_ms, until_ms
    )


def complete_body(vid: str = VID, seq: int = 0, n_refs: int = 2) -> er.CompleteErasure:
    """A completion body destroying ``n_refs`` distinct key refs."""
    refs = [hashlib.sha256(f"{vid}/{seq}/{i}".encode()).digest() for i in range(n_refs)]
    return er.CompleteErasure(vid, seq, refs, hashlib.sha256(b"tombstone" + bytes(seq)).digest())


def place_body(
    vid: str = VID,
    categories: list[str] | None = None,
    from_ms: int = FROM_MS,
    until_ms: int = UNTIL_MS,
) -> holds.PlaceHold:
    """A legal hold body (the case by hash only)."""
    cats = ["location"] if categories is None else categories
    return holds.PlaceHold(vid, cats, from_ms, until_ms, hashlib.sha256(b"case 2026-17").digest())


def advance_to(chain: CoreChain, time_ms: int) -> None:
    """Make the next block's time ``time_ms`` (no sleeping: block time is data)."""
    chain.now_ms = time_ms - 1000


def suspend(chain: CoreChain, member_id: str) -> None:
    """Suspend a member by governance (the regulator proposes, the others vote yes)."""
    from carchain.core import governance as gov

    result = chain.send("miit", gov.Propose(gov.SuspendMember(member_id)))
    created = next(e for e in result.events if e.type == "proposal_created")
    pid = int(created.attributes["proposal_id"])
    voters = [m for m, *_ in FOUNDERS + EXTRA_MEMBERS if m not in (member_id, "miit")]
    for voter in voters:
        if gov.get_proposal(chain.state, pid).status == "executed":
            break
        chain.send(voter, gov.Vote(pid, True))
    assert gov.get_proposal(chain.state, pid).status == "executed"
