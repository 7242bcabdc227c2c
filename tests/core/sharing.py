"""Shared set-up of the consent and access tests: a consortium with every role, owned cars.

Importing ``genesis`` from here (with ``core_chain``) gives a module's ``chain`` a
founder per member role; ``world`` registers the vehicles: ``saic:1`` and
``saic:2`` owned by ``owner-a`` (one key, two cars), ``geely:1`` owned by
``owner-b``, and ``saic:3`` sold by ``owner-prev`` to ``owner-new``.
"""

from __future__ import annotations

import hashlib

import msgspec
import pytest

from carchain.core import access as acc
from carchain.core import governance as gov
from carchain.core.access_releases import (
    ReceiptAccess,
    ReceiptItem,
    ReleaseAccess,
    ReleasedBatch,
)
from carchain.core.consents import GrantConsent, WithdrawConsent
from carchain.core.genesis import Genesis
from carchain.core.vehicles import RegisterVehicle, TransferVehicle
from carchain.crypto.signing import SigningKey
from carchain.sdk.transactions import sign_transfer_consent
from carchain.sdk.vin import compute_vin_commitment
from tests.conftest import CHAIN_ID, FOUNDERS, GENESIS_TIME_MS, VIN_SALT, make_genesis, make_vin
from tests.core.memory import CoreChain

DAY_MS = 86_400_000
FROM_MS = GENESIS_TIME_MS - 10 * DAY_MS
UNTIL_MS = GENESIS_TIME_MS + 10 * DAY_MS
EXPIRES_MS = GENESIS_TIME_MS + DAY_MS

# Every member role has a founder; saic and geely are the OEMs.
ROLE_FOUNDERS: tuple[tuple[str, str, list[str], int], ...] = (
    *FOUNDERS,
    ("pingan", "Ping An Insurance", ["insurer"], 0),
    ("amap", "AutoNavi Maps", ["service_provider"], 0),
    ("court", "Shanghai Court", ["court"], 0),
    ("audit", "Independent Auditor", ["auditor"], 0),
    ("caam", "CAAM", ["association"], 0),
)


@pytest.fixture
def genesis() -> Genesis:
    """The test genesis with a founder for every member role."""
    return make_genesis(founders=ROLE_FOUNDERS)


def register(chain: CoreChain, vid: str, owner: str) -> None:
    """Register ``vid`` (by the OEM of its namespace) owned by the key ``owner``."""
    body = RegisterVehicle(
        vehicle_id=vid,
        vin_commitment=compute_vin_commitment(make_vin(vid), VIN_SALT),
        public_key=chain.key("vehicle/" + vid).public_key,
        model="Roewe RX5",
        year=2024,
        owner=chain.key(owner).public_key,
    )
    chain.send(vid.split(":")[0], body)


def transfer(chain: CoreChain, vid: str, old: str, new: str, seq: int = 0) -> None:
    """Hand ``vid`` from ``old`` to ``new`` (the OEM signs, ``old`` consents)."""
    new_key = chain.key(new).public_key
    sig = sign_transfer_consent(CHAIN_ID, chain.key(old), vid, new_key, seq)
    chain.send(vid.split(":")[0], TransferVehicle(vid, new_key, sig))


def setup_world(chain: CoreChain) -> CoreChain:
    """Register the vehicles of the module docstring; return the chain."""
    register(chain, "saic:1", "owner-a")
    register(chain, "saic:2", "owner-a")
    register(chain, "geely:1", "owner-b")
    register(chain, "saic:3", "owner-prev")
    transfer(chain, "saic:3", "owner-prev", "owner-new")
    return chain


def grant_body(
    vid: str = "saic:1",
    categories: tuple[str, ...] = ("diagnostics",),
    purpose: str = "maintenance_diagnostics",
    recipient_id: str = "bosch",
    recipient_role: str = "",
    data_from_ms: int = FROM_MS,
    data_until_ms: int = UNTIL_MS,
    expires_ms: int = EXPIRES_MS,
) -> GrantConsent:
    """Return a ``consent.grant`` body (default: diagnostics to bosch for maintenance)."""
    return GrantConsent(
        vid,
        list(categories),
        purpose,
        recipient_id,
        recipient_role,
        data_from_ms,
        data_until_ms,
        expires_ms,
    )


def withdraw_body(vid: str = "saic:1", seq: int = 0) -> WithdrawConsent:
    """Return a ``consent.withdraw`` body."""
    return WithdrawConsent(vid, seq)


def request_body(
    vid: str = "saic:1",
    categories: tuple[str, ...] = ("diagnostics",),
    purpose: str = "maintenance_diagnostics",
    data_from_ms: int = FROM_MS + DAY_MS,
    data_until_ms: int = UNTIL_MS - DAY_MS,
) -> acc.RequestAccess:
    """Return an ``access.request`` body inside the default grant's window."""
    return acc.RequestAccess(vid, list(categories), data_from_ms, data_until_ms, purpose)


def header_hash(n: int) -> bytes:
    """Return the (made-up) header hash of batch ``n``."""
    return hashlib.sha256(b"batch-%d" % n).digest()


def batch(n: int, start_ms: int = FROM_MS + 2 * DAY_MS) -> ReleasedBatch:
    """Return released batch ``n``: one minute of data starting ``n`` minutes after ``start_ms``."""
    start = start_ms + n * 60_000
    return ReleasedBatch(header_hash(n), start, start + 59_999)


def release_body(
    vid: str = "saic:1",
    seq: int = 0,
    batches: int = 2,
    categories: tuple[str, ...] = ("diagnostics",),
) -> ReleaseAccess:
    """Return an ``access.release`` body for ``batches`` batches of request ``seq``."""
    return ReleaseAccess(vid, seq, [batch(n) for n in range(batches)], list(categories), b"p" * 32)


def receipt_body(
    vid: str = "saic:1", seq: int = 0, batches: tuple[int, ...] = (0,)
) -> ReceiptAccess:
    """Return an ``access.receipt`` body for the given batches of request ``seq``."""
    items = [ReceiptItem(header_hash(n), 10, hashlib.sha256(b"r%d" % n).digest()) for n in batches]
    return ReceiptAccess(vid, seq, items)


def get_request(chain: CoreChain, vid: str = "saic:1", seq: int = 0) -> acc.AccessRequest:
    """Return the committed request ``seq`` of ``vid``."""
    return acc.get_request(chain.state, vid, seq)


def replace(body: msgspec.Struct, **changes: object) -> msgspec.Struct:
    """Return ``body`` with ``changes``."""
    return msgspec.structs.replace(body, **changes)


def approved_request(chain: CoreChain, vid: str = "saic:1", owner: str = "owner-a") -> int:
    """Grant diagnostics to bosch, have bosch request it; return the request's seq."""
    chain.send(owner, grant_body(vid))
    chain.send("bosch", request_body(vid))
    seq = acc.get_request_count(chain.state, vid) - 1
    assert get_request(chain, vid, seq).decision == "approved"
    return seq


def signer(chain: CoreChain, name: str) -> SigningKey:
    """Return the key called ``name``."""
    return chain.key(name)


def suspend(chain: CoreChain, member_id: str) -> None:
    """Suspend ``member_id`` by a governance vote of every other founder (in one block)."""
    result = chain.send("miit", gov.Propose(gov.SuspendMember(member_id)))
    created = next(e for e in result.events if e.type == "proposal_created")
    pid = int(created.attributes["proposal_id"])
    for voter, *_ in ROLE_FOUNDERS:
        if voter not in (member_id, "miit"):
            assert chain.submit(chain.build(voter, gov.Vote(pid, True))).ok
    chain.block()
    assert gov.get_proposal(chain.state, pid).status == "executed"
