"""The in-memory core harness agrees with the engine: same blocks, same state, same results."""

from __future__ import annotations

from pathlib import Path

import msgspec

from carchain.core import governance as gov
from tests.conftest import GENESIS_TIME_MS, Chain, make_genesis, open_chain, snapshot
from tests.core.memory import CoreChain, core_chain, open_core_chain  # noqa: F401
from tests.core.sharing import DAY_MS, batch, grant_body, receipt_body, release_body, request_body
from tests.core.test_vehicles import OWNER, register_body, transfer_body

LATER = GENESIS_TIME_MS + 60_000  # data of the second owner's time


def drive(chain: Chain | CoreChain) -> list[tuple[int, str]]:
    """Run the same mixed blocks on ``chain``: good, refused, forced and failing txs."""
    out = []
    steps: list[tuple[str, msgspec.Struct]] = [
        ("saic", register_body("saic:1")),
        ("geely", register_body("saic:2")),  # foreign namespace: fails in the block
        ("saic", transfer_body("saic:1", chain.key("owner-2"), OWNER)),
        ("miit", gov.Propose(gov.SuspendMember("bosch"))),
        ("saic", gov.Vote(1, True)),
        ("stranger", gov.Vote(1, True)),  # refused at admission, then forced in
        # Consent and access: the new owner grants, bosch asks, the OEM releases, bosch signs.
        ("owner-2", grant_body("saic:1", data_from_ms=LATER, data_until_ms=LATER + DAY_MS)),
        ("bosch", request_body("saic:1", data_from_ms=LATER, data_until_ms=LATER + DAY_MS)),
        ("saic", msgspec.structs.replace(release_body("saic:1", 0), batches=[batch(0, LATER)])),
        ("bosch", receipt_body("saic:1", 0, (0,))),
        ("owner-1", grant_body("saic:1")),  # the previous owner: refused at admission
    ]
    for signer, body in steps:
        raw = chain.build(signer, body)
        results = chain.block() if chain.submit(raw).ok else chain.include(raw)
        out += [(r.code, r.error_code) for r in results]
    return out


def test_core_chain_fixture_is_in_memory(chain: CoreChain) -> None:
    """Importing ``core_chain`` really replaces the solo chain in a test module."""
    assert isinstance(chain, CoreChain)
    assert not hasattr(chain, "db")


def test_core_chain_matches_the_solo_engine(tmp_path: Path) -> None:
    solo = open_chain(tmp_path / "solo.db", make_genesis())
    core = open_core_chain(make_genesis())
    try:
        verdicts = drive(core)
        assert verdicts == drive(solo)
        assert [code for _, code in verdicts] == [
            "",
            "foreign_vehicle_namespace",
            "",
            "",
            "",
            "unauthorized",
            "",
            "",
            "",
            "",
            "unauthorized",
        ]
        assert core.height == solo.engine.height == 11
        assert core.state.snapshot() == snapshot(solo.db)
    finally:
        solo.db.close()
