"""Every role x every lawful-access transaction: only the allowed cells succeed; every
other cell is refused with a typed error and changes no state.

Case 1 is opened by ``police`` over both saic cars; where a cell needs it, ``court2``
authorised it and ``court``, ``caam`` and ``saic`` approved (quorum 3 of 4).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from carchain.core import cases, escrow_committee, escrow_releases
from carchain.core.case_records import (
    DAY_MS,
    ApproveCase,
    CaseReceipt,
    CaseState,
    CloseCase,
    DeclineCase,
    ExtendNotice,
    ReceiptItemRef,
    RegisterEscrowKey,
    RejectCase,
    ReportCase,
)
from carchain.errors import get_error_class
from tests.core.lawful_world import (
    OFFICER,
    approve,
    authorize_body,
    authorized_case,
    digest,
    genesis,  # noqa: F401
    item,
    open_body,
    open_case,
    release_body,
    setup_world,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401

ROLES = {
    "law_enforcement (the authority)": "police",
    "another law_enforcement": "police2",
    "court (custodian, seat 1)": "court",
    "court (authorising)": "court2",
    "court that is also law_enforcement": "judgecop",
    "association (custodian, seat 2)": "caam",
    "auditor (custodian, seat 3)": "audit",
    "oem of the cars (seat 4)": "saic",
    "another oem": "geely",
    "insurer": "pingan",
    "supplier": "bosch",
    "regulator": "miit",
    "officer key": OFFICER,
    "owner of the cars": "owner-a",
    "stranger": "stranger",
}
MEMBERS = {r for r, k in ROLES.items() if k not in {OFFICER, "owner-a", "stranger"}}
POLICE = {"law_enforcement (the authority)", "another law_enforcement"}
OPENERS = POLICE | {"court that is also law_enforcement"}
COURTS = {"court (custodian, seat 1)", "court (authorising)"}
CUSTODIANS = {
    "court (custodian, seat 1)",
    "association (custodian, seat 2)",
    "auditor (custodian, seat 3)",
    "oem of the cars (seat 4)",
}
REFUSALS = {"unauthorized", "court_not_independent", "not_case_custodian", "not_case_party"}


def _at_quorum(chain: CoreChain) -> int:
    case_id = authorized_case(chain)
    approve(chain, case_id, "court", "caam", "saic")
    return case_id


def prepare_register_key(chain: CoreChain) -> msgspec.Struct:
    return RegisterEscrowKey(chain.key("escrow/new").public_key)


def prepare_open(chain: CoreChain) -> msgspec.Struct:
    return open_body(chain)


def prepare_authorize(chain: CoreChain) -> msgspec.Struct:
    return authorize_body(chain, open_case(chain))


def prepare_reject(chain: CoreChain) -> msgspec.Struct:
    return RejectCase(open_case(chain), "insufficient_basis")


def prepare_approve(chain: CoreChain) -> msgspec.Struct:
    return ApproveCase(authorized_case(chain))


def prepare_decline(chain: CoreChain) -> msgspec.Struct:
    return DeclineCase(authorized_case(chain), "scope_too_broad")


def prepare_release(chain: CoreChain) -> msgspec.Struct:
    return release_body(_at_quorum(chain), item(index=2))


def prepare_oem_release(chain: CoreChain) -> msgspec.Struct:
    return release_body(_at_quorum(chain), item(index=4))


def prepare_extend(chain: CoreChain) -> msgspec.Struct:
    return ExtendNotice(authorized_case(chain), 90 * DAY_MS)


def prepare_report(chain: CoreChain) -> msgspec.Struct:
    return ReportCase(authorized_case(chain), digest("report"))


def prepare_close(chain: CoreChain) -> msgspec.Struct:
    return CloseCase(authorized_case(chain))


def prepare_receipt(chain: CoreChain) -> msgspec.Struct:
    case_id = _at_quorum(chain)
    chain.send("caam", release_body(case_id, item(index=2)))
    return CaseReceipt(case_id, "saic:1", [ReceiptItemRef(digest("b"), 3, digest("r"))])


def _case(chain: CoreChain) -> cases.Case:
    return cases.get_case(chain.state, 1)


CELLS: dict[
    str, tuple[Callable[[CoreChain], msgspec.Struct], set[str], Callable[[CoreChain], bool]]
]
CELLS = {
    "escrow.register_key": (
        prepare_register_key,
        MEMBERS,
        lambda c: any(
            escrow_committee.get_escrow_key_optional(c.state, m) == c.key("escrow/new").public_key
            for m in ROLES.values()
        ),
    ),
    "case.open": (prepare_open, OPENERS, lambda c: cases.get_case_count(c.state) == 1),
    "case.authorize": (prepare_authorize, COURTS, lambda c: _case(c).state == CaseState.AUTHORIZED),
    "case.reject": (prepare_reject, COURTS, lambda c: _case(c).state == CaseState.REJECTED),
    "case.approve": (prepare_approve, CUSTODIANS, lambda c: len(_case(c).approvals) == 1),
    "case.decline": (prepare_decline, CUSTODIANS, lambda c: len(_case(c).declines) == 1),
    "escrow.release (seat 2)": (
        prepare_release,
        {"association (custodian, seat 2)"},
        lambda c: escrow_releases.get_release_count(c.state, 1) == 1,
    ),
    "escrow.release (vehicle-OEM seat)": (
        prepare_oem_release,
        {"oem of the cars (seat 4)"},
        lambda c: escrow_releases.get_release_count(c.state, 1) == 1,
    ),
    "case.extend_notice": (
        prepare_extend,
        {"court (authorising)"},
        lambda c: _case(c).notice_extensions == 1,
    ),
    "case.report": (
        prepare_report,
        {"law_enforcement (the authority)"},
        lambda c: _case(c).report_hash == digest("report"),
    ),
    "case.close": (
        prepare_close,
        {"law_enforcement (the authority)", "court (authorising)"},
        lambda c: _case(c).state == CaseState.CLOSED,
    ),
    "case.receipt": (
        prepare_receipt,
        {"officer key"},
        lambda c: escrow_releases.get_receipt_count(c.state, 1) == 1,
    ),
}


@pytest.mark.parametrize("tx", list(CELLS))
@pytest.mark.parametrize("role", list(ROLES))
def test_case_authorisation_matrix(chain: CoreChain, role: str, tx: str) -> None:
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
    assert code in REFUSALS, code
