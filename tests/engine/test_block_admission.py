"""A Byzantine proposer's block: ProcessProposal runs admission over committed state,
and a decided block never writes state for a signer that is not admitted.
"""

from __future__ import annotations

import pytest

from carchain.core import accounts
from carchain.core import governance as gov
from carchain.core.types import BlockContext
from carchain.core.vehicles import RegisterVehicle
from carchain.crypto.signing import SigningKey
from carchain.engine.application import Application
from carchain.errors import InvalidNonce, Unauthorized
from carchain.sdk.transactions import build_tx
from carchain.sdk.vin import compute_vin_commitment
from tests.conftest import CHAIN_ID, VIN_SALT, Chain, make_vin, seeded_key, snapshot


def _body(vid: str) -> RegisterVehicle:
    return RegisterVehicle(
        "saic:" + vid,
        compute_vin_commitment(make_vin(vid), VIN_SALT),
        seeded_key("veh/" + vid).public_key,
        "RX5",
        2024,
        seeded_key("owner/" + vid).public_key,
    )


def register(signer: SigningKey, nonce: int, vid: str) -> bytes:
    return build_tx(CHAIN_ID, signer, nonce, _body(vid))


def stranger_txs(n: int) -> list[bytes]:
    """Validly signed proposals from ``n`` keys that belong to no member."""
    return [
        build_tx(CHAIN_ID, seeded_key(f"stranger-{i}"), 1, gov.Propose(gov.SuspendMember("saic")))
        for i in range(n)
    ]


def row_count(app: Application) -> int:
    return int(app.db.conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0])


def finalize_and_commit(chain: Chain, txs: list[bytes]) -> list[str]:
    app = chain.app
    ctx = BlockContext(CHAIN_ID, app.state.height + 1, chain.now_ms + 1000, b"\x01" * 20)
    fin = app.finalize_block(ctx, txs)
    app.commit()
    return [r.error_code for r in fin.tx_results]


def test_proposal_of_admissible_txs_is_accepted_and_changes_nothing(chain: Chain) -> None:
    saic = chain.key("saic")
    before = snapshot(chain.db)
    chain.app.validate_block_txs([register(saic, 1, "v-1"), register(saic, 2, "v-2")])
    assert snapshot(chain.db) == before
    assert accounts.get_nonce(chain.app.state, saic.public_key) == 0


def test_invalid_proposal_with_a_non_member_tx_is_rejected(chain: Chain) -> None:
    good = register(chain.key("saic"), 1, "v-1")
    with pytest.raises(Unauthorized, match="not a consortium member"):
        chain.app.validate_block_txs([good, *stranger_txs(1)])


def test_invalid_proposal_with_a_member_not_allowed_the_type_is_rejected(chain: Chain) -> None:
    # bosch is a supplier: it may not register vehicles (admit_oem).
    with pytest.raises(Unauthorized, match="oem role"):
        chain.app.validate_block_txs([register(chain.key("bosch"), 1, "v-1")])


@pytest.mark.parametrize("nonces", [[1, 1], [1, 3], [2], [2, 1]])
def test_invalid_proposal_with_a_broken_nonce_sequence_is_rejected(
    chain: Chain, nonces: list[int]
) -> None:
    saic = chain.key("saic")
    txs = [register(saic, n, f"v-{i}") for i, n in enumerate(nonces)]
    with pytest.raises(InvalidNonce):
        chain.app.validate_block_txs(txs)


def test_invalid_proposal_replaying_a_committed_nonce_is_rejected(chain: Chain) -> None:
    chain.send("saic", _body("v-1"))
    with pytest.raises(InvalidNonce, match="replay"):
        chain.app.validate_block_txs([register(chain.key("saic"), 1, "v-9")])


def test_select_block_txs_keeps_only_what_peers_accept(chain: Chain) -> None:
    saic = chain.key("saic")
    good = [register(saic, 1, "v-1"), register(saic, 2, "v-2")]
    txs = [good[0], *stranger_txs(2), register(saic, 5, "v-gap"), good[1], b"junk"]
    kept = chain.app.select_block_txs(txs)
    assert kept == good
    chain.app.validate_block_txs(kept)


def test_decided_block_of_non_members_writes_nothing(chain: Chain) -> None:
    """CometBFT can decide a block we rejected (if >2/3 accepted it): every
    transaction of a signer who is not admitted fails and writes no row."""
    rows, app_hash = row_count(chain.app), chain.app.state.app_hash
    strangers = stranger_txs(50)
    codes = finalize_and_commit(chain, strangers)
    assert codes == ["unauthorized"] * 50
    assert row_count(chain.app) == rows
    assert chain.app.state.app_hash == app_hash
    for i in range(50):
        assert accounts.get_nonce(chain.app.state, seeded_key(f"stranger-{i}").public_key) == 0


def test_decided_block_with_a_member_lacking_the_role_writes_nothing(chain: Chain) -> None:
    before = snapshot(chain.db)
    assert finalize_and_commit(chain, [register(chain.key("bosch"), 1, "v-1")]) == ["unauthorized"]
    assert snapshot(chain.db) == before


def test_member_suspended_earlier_in_the_block_writes_nothing(chain: Chain) -> None:
    """Admission in the block follows the block: once bosch's suspension has
    executed, bosch's next transaction in the same block is not admitted."""
    pid = 1
    for voter in ("miit", "saic", "geely"):
        body = gov.Propose(gov.SuspendMember("bosch")) if voter == "miit" else gov.Vote(pid, True)
        chain.send(voter, body)
    bosch = chain.key("bosch")
    deciding = chain.build("police", gov.Vote(pid, True))
    late = build_tx(CHAIN_ID, bosch, 1, gov.Propose(gov.SuspendMember("miit")))
    chain.app.validate_block_txs([deciding, late])  # both admissible against committed state
    assert finalize_and_commit(chain, [deciding, late]) == ["", "unauthorized"]
    assert gov.get_proposal(chain.app.state, pid).status == "executed"
    assert accounts.get_nonce(chain.app.state, bosch.public_key) == 0
