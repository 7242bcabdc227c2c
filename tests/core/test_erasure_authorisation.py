"""Who may send each erasure and legal-hold transaction: every role x every type.

Only the allowed cells succeed; every other is refused with a typed error and
changes no state (``chain.reject`` forces admission refusals into a block too).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from carchain.core import erasure as er
from carchain.core import holds
from carchain.crypto.signing import SigningKey
from tests.conftest import GENESIS_TIME_MS, seeded_key
from tests.core.erasure_world import (
    DAY_MS,
    NEW_OWNER,
    OTHER_OWNER,
    OTHER_VID,
    OWNER,
    STRANGER,
    VID,
    complete_body,
    erasure_genesis,  # noqa: F401
    place_body,
    register,
    request_body,
    transfer,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401

PREVIOUS_OWNER = seeded_key("erasure/previous-owner")
# The new owner's own data (after the sale): an owner erases nothing from before it.
OWN_FROM_MS = GENESIS_TIME_MS + 100 * DAY_MS
OWN_UNTIL_MS = OWN_FROM_MS + 1000

# role -> signer (a member id or an account key)
ROLES: dict[str, str | SigningKey] = {
    "owner": NEW_OWNER,
    "owner_of_another_vehicle": OTHER_OWNER,
    "previous_owner": PREVIOUS_OWNER,
    "owner_of_another_oems_vehicle": OWNER,
    "oem_of_vehicle": "saic",
    "other_oem": "geely",
    "court": "court1",
    "other_court": "court2",
    "law_enforcement": "police",
    "insurer": "insurer",
    "regulator": "miit",
    "auditor": "auditor",
    "supplier": "bosch",
    "stranger": STRANGER,
}

BODIES: dict[str, Callable[[], msgspec.Struct]] = {
    "erasure.request": lambda: request_body(from_ms=OWN_FROM_MS, until_ms=OWN_UNTIL_MS),
    "erasure.complete": lambda: complete_body(),
    "legal_hold.place": lambda: place_body(),
    "legal_hold.lift": lambda: holds.LiftHold(VID, 0),
}

ALLOWED = {
    ("erasure.request", "owner"),
    ("erasure.complete", "oem_of_vehicle"),
    ("legal_hold.place", "court"),
    ("legal_hold.place", "other_court"),
    ("legal_hold.lift", "court"),
}
REFUSAL = {("legal_hold.lift", "other_court"): "not_hold_owner"}


@pytest.fixture(name="world")
def world_chain(chain: CoreChain) -> CoreChain:
    """VID passed from a previous owner to NEW_OWNER; OTHER_VID owned by OTHER_OWNER;
    OWNER owns a geely car; one open erasure request and one hold (on other data)."""
    register(chain, VID, PREVIOUS_OWNER)
    transfer(chain, VID, PREVIOUS_OWNER, NEW_OWNER)
    register(chain, OTHER_VID, OTHER_OWNER)
    register(chain, "geely:7", OWNER)
    chain.send(NEW_OWNER, request_body(from_ms=OWN_FROM_MS, until_ms=OWN_UNTIL_MS))
    chain.send("court1", place_body(categories=["motion"]))
    assert er.get_erasure(chain.state, VID, 0).status == "open"
    return chain


CELLS = [(tx, role) for tx in BODIES for role in ROLES]


@pytest.mark.parametrize(("tx", "role"), CELLS, ids=[f"{t}-{r}" for t, r in CELLS])
def test_authorisation_matrix(world: CoreChain, tx: str, role: str) -> None:
    body = BODIES[tx]()
    signer = ROLES[role]
    if (tx, role) in ALLOWED:
        before = world.state.snapshot(skip=("accounts",))
        world.send(signer, body)
        assert world.state.snapshot(skip=("accounts",)) != before
    else:
        assert world.reject(signer, body) == REFUSAL.get((tx, role), "unauthorized")


def test_every_transaction_type_of_this_area_is_in_the_matrix() -> None:
    from carchain.core.registry import TX_TYPES

    mine = {n for n in TX_TYPES if n.startswith(("erasure.", "legal_hold."))}
    assert mine == set(BODIES)
