"""FinalizeBlock's decided last commit becomes ``BlockContext.signers``.

A vote names a validator by its 20-byte address; the adapter maps it to the key
through the validator index of committed state. Only votes for the block
(``BLOCK_ID_FLAG_COMMIT``) count; absent and nil votes and addresses the state
does not know are left out.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carchain.core import governance as gov
from carchain.core.genesis import encode_genesis
from carchain.core.types import BlockContext
from carchain.core.validators import compute_validator_address
from carchain.engine.abci.adapter import AbciAdapter
from carchain.engine.application import Application, FinalizeResult
from carchain.sdk.transactions import build_tx
from carchain.storage.database import Database
from tests.conftest import CHAIN_ID, make_genesis, seeded_key, validator_key
from tests.network.conftest import require_network_setup

pytestmark = pytest.mark.network

ABSENT, COMMIT, NIL = 1, 2, 3


@pytest.fixture(scope="module")
def abci() -> Any:
    """The generated ``tendermint.abci.types_pb2`` module."""
    require_network_setup()
    from carchain.engine.abci import protos

    return protos.get_abci()


def init_request(abci: Any) -> Any:
    return abci.RequestInitChain(
        chain_id=CHAIN_ID, initial_height=1, app_state_bytes=encode_genesis(make_genesis())
    )


def finalize(abci: Any, height: int, txs: list[bytes]) -> Any:
    ts = abci.RequestFinalizeBlock().time.__class__(seconds=1_700_000_000 + height)
    return abci.RequestFinalizeBlock(
        txs=txs, height=height, time=ts, hash=os.urandom(32), proposer_address=b"\x01" * 20
    )


class Recorder:
    """An adapter over a fresh chain that records the context of every finalized block."""

    def __init__(self, tmp_path: Path, abci: Any) -> None:
        self.abci = abci
        self.db = Database(tmp_path / "state.db")
        self.adapter = AbciAdapter(Application(self.db))
        self.adapter.handle("init_chain", abci.Request(init_chain=init_request(abci)))
        self.contexts: list[BlockContext] = []
        real = self.adapter.app.finalize_block

        def spy(ctx: BlockContext, txs: list[bytes]) -> FinalizeResult:
            self.contexts.append(ctx)
            return real(ctx, txs)

        self.adapter.app.finalize_block = spy  # type: ignore[method-assign]

    def block(self, votes: list[tuple[bytes, int]], txs: list[bytes] | None = None) -> Any:
        """Finalize and commit the next block whose last commit has ``votes``."""
        req = finalize(self.abci, self.adapter.app.get_height() + 1, txs or [])
        for address, flag in votes:
            vote = self.abci.VoteInfo(
                validator=self.abci.Validator(address=address, power=10), block_id_flag=flag
            )
            req.decided_last_commit.votes.append(vote)
        fin = self.adapter.handle("finalize_block", self.abci.Request(finalize_block=req))
        self.adapter.handle("commit", self.abci.Request(commit=self.abci.RequestCommit()))
        return fin.finalize_block


@pytest.fixture
def rec(tmp_path: Path, abci: Any) -> Iterator[Recorder]:
    r = Recorder(tmp_path, abci)
    yield r
    r.db.close()


def address(member_id: str) -> bytes:
    return compute_validator_address(validator_key(member_id))


def test_commit_votes_become_signer_keys(rec: Recorder) -> None:
    rec.block([(address("geely"), COMMIT), (address("saic"), COMMIT)])
    assert rec.contexts[-1].signers == tuple(
        sorted([validator_key("saic"), validator_key("geely")])
    )


def test_absent_and_nil_votes_are_not_signers(rec: Recorder) -> None:
    rec.block([(address("saic"), COMMIT), (address("geely"), NIL)])
    assert rec.contexts[-1].signers == (validator_key("saic"),)
    rec.block([(address("saic"), ABSENT), (address("geely"), NIL)])
    assert rec.contexts[-1].signers == ()


def test_no_last_commit_gives_no_signers(rec: Recorder) -> None:
    rec.block([])  # the first block, or a replayed height without a last commit
    assert rec.contexts[-1].signers == ()


def test_addresses_the_state_does_not_know_are_left_out(rec: Recorder) -> None:
    stranger = compute_validator_address(hashlib.sha256(b"stranger").digest())
    rec.block([(stranger, COMMIT), (b"\x00" * 3, COMMIT), (address("geely"), COMMIT)])
    assert rec.contexts[-1].signers == (validator_key("geely"),)


def test_dead_key_proposal_fails_when_the_commit_shows_its_signers(rec: Recorder) -> None:
    dead = hashlib.sha256(b"a key no node runs").digest()
    action = gov.AddMember("mallory", "Mallory", ["oem"], seeded_key("mallory").public_key, dead, 1)
    txs = [build_tx(CHAIN_ID, seeded_key("saic"), 1, gov.Propose(action))]
    txs += [
        build_tx(CHAIN_ID, seeded_key(m), 1, gov.Vote(1, True)) for m in ("geely", "bosch", "miit")
    ]
    # Only saic signed: 10 of 20 live already; any power for a key that did not sign lowers it.
    fin = rec.block([(address("saic"), COMMIT), (address("geely"), ABSENT)], txs)
    assert [r.code for r in fin.tx_results] == [0, 0, 0, 0]
    assert list(fin.validator_updates) == []
    proposal = gov.get_proposal(rec.adapter.app.state, 1)
    assert proposal.status == gov.ProposalStatus.FAILED
    assert proposal.outcome.startswith("liveness_violation:")
