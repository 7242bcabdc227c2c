"""The SDK builders of the lawful-access bodies: each names its registry type, scopes and
committee categories come out sorted and unique, and the chain accepts what they build."""

from __future__ import annotations

import pytest

from carchain.core import cases
from carchain.core import governance as gov
from carchain.core.case_records import DAY_MS, ReceiptItemRef, ShareItem
from carchain.sdk import transactions as tx
from tests.core.lawful_world import (
    EPOCH,
    EPOCH_MS,
    OFFICER,
    digest,
    genesis,  # noqa: F401
    setup_world,
)
from tests.core.memory import CoreChain, core_chain  # noqa: F401

SCOPE = tx.build_case_scope(["saic:2", "saic:1", "saic:2"], ["location", "crash_pulse"], 0, 1)
BUILT = {
    "escrow.register_key": tx.build_register_escrow_key(b"\x01" * 32),
    "case.open": tx.build_case_open(b"r" * 32, "rtsl_accident", SCOPE, b"j" * 32, b"o" * 32),
    "case.authorize": tx.build_case_authorize(1, SCOPE, 2, 3),
    "case.reject": tx.build_case_reject(1, "other"),
    "case.approve": tx.build_case_approve(1),
    "case.decline": tx.build_case_decline(1, "other"),
    "case.extend_notice": tx.build_case_extend_notice(1, 5),
    "case.report": tx.build_case_report(1, b"p" * 32),
    "case.close": tx.build_case_close(1),
    "escrow.release": tx.build_escrow_release(1, [ShareItem("saic:1", 1, "location", 1, b"")]),
    "case.receipt": tx.build_case_receipt(1, "saic:1", [ReceiptItemRef(b"h" * 32, 1, b"d" * 32)]),
}


@pytest.mark.parametrize("name", list(BUILT))
def test_builder_names_its_type(name: str) -> None:
    assert tx.compute_tx_type(BUILT[name]) == name


def test_scope_and_committee_are_canonical() -> None:
    assert SCOPE.vehicles == ["saic:1", "saic:2"] and SCOPE.categories == [
        "crash_pulse",
        "location",
    ]
    action = tx.build_set_escrow_committee(
        [("caam", "association"), ("", "oem")], 2, ["location", "audio_video", "location"]
    )
    assert action.categories == ["audio_video", "location"]
    assert [s.member_id for s in action.seats] == ["caam", ""]
    assert tx.compute_tx_type(gov.Propose(action)) == "governance.propose"


def test_the_chain_accepts_the_built_case(chain: CoreChain) -> None:
    setup_world(chain)
    scope = tx.build_case_scope(["saic:1"], ["location"], EPOCH_MS, EPOCH_MS + DAY_MS)
    officer = chain.key(OFFICER).public_key
    chain.send(
        "police", tx.build_case_open(digest("ref"), "cpl_evidence", scope, digest("j"), officer)
    )
    chain.send("court2", tx.build_case_authorize(1, scope, chain.now_ms + DAY_MS, DAY_MS))
    for voter in ("court", "caam", "saic"):
        chain.send(voter, tx.build_case_approve(1))
    chain.send(
        "caam",
        tx.build_escrow_release(1, [ShareItem("saic:1", EPOCH, "location", 2, b"\x07" * 80)]),
    )
    chain.send(
        OFFICER, tx.build_case_receipt(1, "saic:1", [ReceiptItemRef(digest("b"), 1, digest("d"))])
    )
    chain.send("police", tx.build_case_close(1))
    assert cases.get_case(chain.state, 1).state == "closed"
