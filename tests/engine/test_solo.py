"""The solo engine: blocks, headers, mempool admission, rechecks, consistency."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from carchain.core import governance as gov
from carchain.core.transactions import compute_tx_hash
from carchain.engine.application import Application
from carchain.engine.mempool import Mempool
from carchain.engine.solo import SoloConfig, SoloEngine
from carchain.errors import CarchainError, MempoolFull, StorageCorrupted
from carchain.storage.blocks import Block, compute_block_hash
from carchain.storage.database import Database
from tests.conftest import CHAIN_ID, Chain, open_chain, snapshot
from tests.core.test_vehicles import register_body
from tests.crypto.test_merkle import naive_mth


def test_empty_mempool_makes_no_block(chain: Chain) -> None:
    assert chain.engine.produce_block(1) is None
    assert chain.engine.height == 0


def test_block_headers_chain_and_commit_to_contents(chain: Chain) -> None:
    raws = [chain.build("saic", register_body(f"saic:{i}")) for i in range(3)]
    assert all(chain.submit(r).ok for r in raws)
    b1 = chain.engine.produce_block(5_000)
    assert b1 is not None
    h = b1.header
    assert (h.chain_id, h.height, h.time_ms, h.prev_hash) == (CHAIN_ID, 1, 5_000, b"")
    assert h.tx_root == naive_mth([hashlib.sha256(t).digest() for t in raws])
    assert h.app_hash == chain.app.state.app_hash
    assert b1.txs == raws and [r.code for r in b1.results] == [0, 0, 0]
    assert chain.submit(chain.build("saic", register_body("saic:9"))).ok
    b2 = chain.engine.produce_block(4_000)  # the clock went backwards
    assert b2 is not None
    assert b2.header.time_ms == 5_001  # block time never decreases
    assert b2.header.prev_hash == compute_block_hash(h)
    assert chain.engine.blocks.get_block(1) == b1
    assert chain.engine.blocks.get_block(2) == b2
    assert chain.engine.blocks.get_block(3) is None
    for i, raw in enumerate(raws):
        assert chain.engine.blocks.get_tx_location(compute_tx_hash(raw)) == (1, i)


def test_commit_listener_sees_each_block(chain: Chain) -> None:
    seen: list[tuple[int, list[bytes]]] = []

    def listener(block: Block, hashes: list[bytes]) -> None:
        seen.append((block.header.height, hashes))

    chain.engine.add_commit_listener(listener)
    raw = chain.build("saic", register_body())
    chain.submit(raw)
    chain.block()
    assert seen == [(1, [compute_tx_hash(raw)])]


def test_check_tx_never_touches_committed_state(chain: Chain) -> None:
    before = (snapshot(chain.db), chain.app.state.app_hash)
    for i in range(5):
        assert chain.submit(chain.build("saic", register_body(f"saic:{i}"))).ok
    assert chain.submit(chain.build("stranger", register_body("x"))).error_code == "unauthorized"
    assert (snapshot(chain.db), chain.app.state.app_hash) == before
    assert len(chain.engine.mempool) == 5


def test_invalid_duplicate_in_mempool_and_after_commit(chain: Chain) -> None:
    raw = chain.build("saic", register_body())
    assert chain.submit(raw).ok
    assert chain.submit(raw).error_code == "duplicate_tx"
    chain.block()
    assert chain.submit(raw).error_code == "duplicate_tx"
    assert len(chain.engine.mempool) == 0


def test_invalid_mempool_full() -> None:
    pool = Mempool(max_txs=2, max_bytes=100)
    pool.add(b"a", b"x" * 10)
    pool.add(b"b", b"x" * 10)
    with pytest.raises(MempoolFull) as info:
        pool.validate_room(b"c", 10)
    assert getattr(info.value, "code", None) == "mempool_full"
    pool.remove([b"a"])
    pool.validate_room(b"c", 10)
    with pytest.raises(MempoolFull) as info:
        pool.validate_room(b"c", 91)
    assert getattr(info.value, "code", None) == "mempool_full"
    assert [h for h, _ in pool.peek(10, 15)] == [b"b"]


def test_block_size_limit(tmp_path: Path) -> None:
    chain = open_chain(tmp_path / "s.db")
    chain.engine = SoloEngine(chain.app, SoloConfig(max_block_txs=3))
    raws = [chain.build("saic", register_body(f"saic:{i}")) for i in range(7)]
    assert all(chain.submit(r).ok for r in raws)
    sizes = []
    while (block := chain.engine.produce_block(1)) is not None:
        sizes.append(len(block.txs))
    assert sizes == [3, 3, 1]
    assert chain.nonce(chain.key("saic")) == 7
    chain.db.close()


def test_recheck_drops_transactions_made_stale_by_a_block(tmp_path: Path) -> None:
    chain = open_chain(tmp_path / "s.db")
    chain.engine = SoloEngine(chain.app, SoloConfig(max_block_txs=1))
    # A competing nonce-1 transaction arrives first through another path.
    competitor = chain.build("saic", register_body("saic:a"), nonce=1)
    chain.engine.mempool.add(compute_tx_hash(competitor), competitor)
    mine = chain.build("saic", register_body("saic:b"), nonce=1)
    assert chain.submit(mine).ok
    assert len(chain.engine.mempool) == 2
    block = chain.engine.produce_block(1)
    assert block is not None and block.txs == [competitor]
    assert len(chain.engine.mempool) == 0  # "mine" can never be valid now
    assert chain.engine.produce_block(2) is None
    chain.db.close()


def test_recheck_drops_transactions_of_a_suspended_signer(chain: Chain) -> None:
    result = chain.send("miit", gov.Propose(gov.SuspendMember("bosch")))
    pid = int(
        next(e for e in result.events if e.type == "proposal_created").attributes["proposal_id"]
    )
    chain.send("saic", gov.Vote(pid, True))
    chain.send("geely", gov.Vote(pid, True))
    last_vote = chain.build("police", gov.Vote(pid, True))
    bosch_tx = chain.build("bosch", gov.Propose(gov.SuspendMember("miit")))
    assert chain.submit(last_vote).ok
    chain.engine.config = SoloConfig(max_block_txs=1)
    assert chain.submit(bosch_tx).ok
    chain.block()  # the vote executes the suspension
    assert bosch_tx not in [raw for _, raw in chain.engine.mempool.items()]
    assert len(chain.engine.mempool) == 0


def test_admission_does_not_see_uncommitted_rules(chain: Chain) -> None:
    """check_tx admits; a rule violation is recorded as a failed tx in the block."""
    chain.send("saic", register_body("saic:1"))
    dup = chain.build("saic", register_body("saic:1"))
    assert chain.submit(dup).ok
    [result] = chain.block()
    assert result.error_code == "already_exists"
    assert chain.nonce(chain.key("saic")) == 2


def test_restart_continues_the_chain(tmp_path: Path) -> None:
    chain = open_chain(tmp_path / "s.db")
    chain.send("saic", register_body("saic:1"))
    app_hash = chain.app.state.app_hash
    chain.db.close()
    again = open_chain(tmp_path / "s.db")
    assert (again.engine.height, again.app.state.app_hash) == (1, app_hash)
    again.send("saic", register_body("saic:2"))  # nonce 2, from committed state
    header = again.engine.blocks.get_header(2)
    first = again.engine.blocks.get_header(1)
    assert header is not None and first is not None
    assert header.prev_hash == compute_block_hash(first)
    again.db.close()


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM blocks WHERE height = 2",
        "UPDATE blocks SET header = (SELECT header FROM blocks WHERE height = 1) WHERE height = 2",
    ],
)
def test_inconsistent_block_store_is_refused(tmp_path: Path, sql: str) -> None:
    chain = open_chain(tmp_path / "s.db")
    chain.send("saic", register_body("saic:1"))
    chain.send("saic", register_body("saic:2"))
    chain.db.close()
    conn = sqlite3.connect(tmp_path / "s.db")
    conn.execute(sql)
    conn.commit()
    conn.close()
    db = Database(tmp_path / "s.db")
    with pytest.raises(StorageCorrupted):
        SoloEngine(Application(db))
    db.close()


def test_finalize_without_commit_changes_nothing(chain: Chain) -> None:
    raw = chain.build("saic", register_body())
    before = (snapshot(chain.db), chain.app.state.app_hash)
    from carchain.core.types import BlockContext

    fin = chain.app.finalize_block(BlockContext(CHAIN_ID, 1, 1, b""), [raw])
    assert fin.app_hash != before[1]
    assert chain.app.pending_height == 1
    assert (snapshot(chain.db), chain.app.state.app_hash) == before
    chain.app.commit()
    assert chain.app.state.app_hash == fin.app_hash
    assert chain.app.pending_height is None
    with pytest.raises(CarchainError, match="commit without finalize"):
        chain.app.commit()


def test_invalid_resubmission_of_old_committed_tx(chain: Chain) -> None:
    first = chain.build("saic", register_body("saic:1"))
    assert chain.submit(first).ok
    chain.block()
    for i in range(2, 4):
        chain.send("saic", register_body(f"saic:{i}"))
    res = chain.submit(first)
    assert (res.code, res.error_code) == (31, "duplicate_tx")
    # Same nonce, other content: a replay, not a duplicate.
    res = chain.submit(chain.build("saic", register_body("saic:x"), nonce=1))
    assert res.error_code == "invalid_nonce"
    assert len(chain.engine.mempool) == 0


def test_block_of_admitted_prefix_keeps_check_state_without_recheck(chain: Chain) -> None:
    chain.engine.config = SoloConfig(max_block_txs=2)
    # Proposals write neither ``members`` nor ``vehicles`` (the stores admission reads).
    propose = gov.Propose(gov.SuspendMember("police"))
    raws = [chain.build("miit", propose) for _ in range(5)]
    assert all(chain.submit(r).ok for r in raws)
    calls: list[bool] = []
    check_tx = chain.app.check_tx

    def spy(raw: bytes, recheck: bool = False) -> object:
        calls.append(recheck)
        return check_tx(raw, recheck)

    chain.app.check_tx = spy  # type: ignore[method-assign,assignment]
    chain.block()
    assert calls == []  # no admission store written: the rest of the mempool is not rechecked
    # The kept check state still admits the signer's next nonce and only that.
    assert chain.submit(chain.build("miit", propose)).ok
    assert not chain.submit(chain.build("miit", propose, nonce=3)).ok
    while len(chain.engine.mempool):
        assert all(r.code == 0 for r in chain.block())
    assert chain.engine.height == 3


def test_block_changing_members_rechecks_the_rest(chain: Chain) -> None:
    result = chain.send("miit", gov.Propose(gov.ChangeRoles("bosch", ["insurer", "supplier"])))
    pid = int(
        next(e for e in result.events if e.type == "proposal_created").attributes["proposal_id"]
    )
    chain.send("saic", gov.Vote(pid, True))
    chain.send("geely", gov.Vote(pid, True))
    chain.engine.config = SoloConfig(max_block_txs=1)
    assert chain.submit(chain.build("police", gov.Vote(pid, True))).ok  # reaches the threshold
    assert chain.submit(chain.build("saic", register_body("saic:later"))).ok
    calls: list[bool] = []
    check_tx = chain.app.check_tx

    def spy(raw: bytes, recheck: bool = False) -> object:
        calls.append(recheck)
        return check_tx(raw, recheck)

    chain.app.check_tx = spy  # type: ignore[method-assign,assignment]
    chain.block()
    assert chain.app.query("members", b"m/bosch").value  # the roles changed in that block
    assert calls == [True]  # so the remaining transaction was rechecked


def test_invalid_mempool_full_verdict_carries_its_fields(chain: Chain) -> None:
    chain.engine.mempool.max_txs = 1
    assert chain.submit(chain.build("saic", register_body("saic:f-1"))).ok
    res = chain.engine.submit(chain.build("geely", register_body("geely:f-2")))
    assert (res.error_code, res.fields) == ("mempool_full", {"size": 1})
