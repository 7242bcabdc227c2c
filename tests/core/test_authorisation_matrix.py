"""Every role x every consent and access transaction: only the allowed cells succeed;
every other cell is refused with a typed error and changes no state.

The vehicle is ``saic:3`` (made by saic, sold by ``owner-prev`` to ``owner-new``);
the requester of the access flow is bosch (a supplier).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from carchain.core import access as acc
from carchain.core import access_releases as rel
from carchain.core import consents
from carchain.core.vehicles import get_vehicle
from carchain.errors import get_error_class
from tests.core.memory import CoreChain, core_chain  # noqa: F401
from tests.core.sharing import (
    DAY_MS,
    genesis,  # noqa: F401
    grant_body,
    receipt_body,
    setup_world,
    withdraw_body,
)
from tests.core.sharing import batch as make_batch

VID = "saic:3"
ROLES = {
    "owner of this vehicle": "owner-new",
    "owner of another vehicle": "owner-b",
    "previous owner": "owner-prev",
    "oem of this vehicle": "saic",
    "another oem": "geely",
    "insurer": "pingan",
    "service_provider": "amap",
    "court": "court",
    "law_enforcement": "police",
    "regulator": "miit",
    "auditor": "audit",
    "association": "caam",
    "supplier (the requester)": "bosch",
    "stranger": "stranger",
}
MEMBERS = {r for r in ROLES if ROLES[r] not in {"owner-new", "owner-b", "owner-prev", "stranger"}}
OWNER = {"owner of this vehicle"}
CUSTODIANS = {"owner of this vehicle", "oem of this vehicle"}


def window(chain: CoreChain) -> tuple[int, int]:
    start = get_vehicle(chain.state, VID).owner_since_ms  # the new owner's own data
    return start, start + 10 * DAY_MS


def grant(chain: CoreChain, category: str = "diagnostics") -> consents.GrantConsent:
    lo, hi = window(chain)
    expires = chain.now_ms + DAY_MS
    return grant_body(VID, (category,), data_from_ms=lo, data_until_ms=hi, expires_ms=expires)


def request(chain: CoreChain, category: str = "diagnostics") -> acc.RequestAccess:
    lo, hi = window(chain)
    return acc.RequestAccess(VID, [category], lo, hi, "maintenance_diagnostics")


def release(chain: CoreChain, category: str = "diagnostics") -> rel.ReleaseAccess:
    lo, _ = window(chain)
    return rel.ReleaseAccess(VID, 0, [make_batch(0, lo), make_batch(1, lo)], [category], b"p" * 32)


def _requested(chain: CoreChain, category: str) -> None:
    chain.send("owner-new", grant(chain, category))
    chain.send("bosch", request(chain, category))


def prepare_grant(chain: CoreChain) -> msgspec.Struct:
    return grant(chain)


def prepare_withdraw(chain: CoreChain) -> msgspec.Struct:
    chain.send("owner-new", grant(chain))
    return withdraw_body(VID, 0)


def prepare_request(chain: CoreChain) -> msgspec.Struct:
    chain.send("owner-new", grant(chain))
    return request(chain)


def prepare_release(chain: CoreChain) -> msgspec.Struct:
    _requested(chain, "diagnostics")
    return release(chain)


def prepare_sensitive_release(chain: CoreChain) -> msgspec.Struct:
    _requested(chain, "location")
    return release(chain, "location")


def prepare_receipt(chain: CoreChain) -> msgspec.Struct:
    _requested(chain, "diagnostics")
    chain.send("saic", release(chain))
    return receipt_body(VID, 0, (0, 1))


# transaction -> (prepare, the roles allowed, what a success leaves behind)
CELLS: dict[
    str, tuple[Callable[[CoreChain], msgspec.Struct], set[str], Callable[[CoreChain], bool]]
]
CELLS = {
    "consent.grant": (
        prepare_grant,
        OWNER,
        lambda c: consents.get_grant_optional(c.state, VID, 0) is not None,
    ),
    "consent.withdraw": (
        prepare_withdraw,
        OWNER,
        lambda c: consents.get_grant(c.state, VID, 0).withdrawn_height == c.height,
    ),
    "access.request": (
        prepare_request,
        MEMBERS,
        lambda c: acc.get_request_optional(c.state, VID, 0) is not None,
    ),
    "access.release": (
        prepare_release,
        CUSTODIANS,
        lambda c: rel.get_release_optional(c.state, VID, 0) is not None,
    ),
    "access.release (sensitive)": (
        prepare_sensitive_release,
        OWNER,
        lambda c: rel.get_release_optional(c.state, VID, 0) is not None,
    ),
    "access.receipt": (
        prepare_receipt,
        {"supplier (the requester)"},
        lambda c: len(rel.get_receipts(c.state, VID, 0)) == 1,
    ),
}


@pytest.mark.parametrize("tx", list(CELLS))
@pytest.mark.parametrize("role", list(ROLES))
def test_authorisation_matrix(chain: CoreChain, role: str, tx: str) -> None:
    setup_world(chain)
    prepare, allowed, succeeded = CELLS[tx]
    body = prepare(chain)
    signer = ROLES[role]
    if role in allowed:
        chain.send(signer, body)
        assert succeeded(chain)
        return
    code = chain.reject(signer, body)  # refused, and no store but the nonces changed
    assert get_error_class(code).code == code != "internal"
    assert not succeeded(chain)
    assert code in {"unauthorized", "sensitive_release_needs_owner"}, code
