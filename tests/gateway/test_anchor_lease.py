"""Two anchorers of one OEM over one shared journal: the one whose lease moved to the
other is fenced (it sends nothing and writes nothing), and the new holder settles the
anchor the old one built and left unsent, so no sequence number is skipped and no
batch is anchored twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from carchain.errors import LeaseLost
from carchain.gateway.anchoring import Anchorer
from carchain.gateway.journal import Journal
from carchain.gateway.lease import now_ms
from carchain.sdk.account import Account
from carchain.storage.blobstore import FileBlobStore
from tests.conftest import CHAIN_ID, seeded_key
from tests.gateway.test_anchor_conflict import OEM, ChainNode, add_batch


def make_instance(tmp_path: Path, node: ChainNode) -> Anchorer:
    """An anchorer over the shared journal and blob store (its own connections)."""
    account = Account(node, seeded_key(OEM), CHAIN_ID)  # type: ignore[arg-type]
    journal = Journal(tmp_path / "shared" / "journal.db")
    return Anchorer(OEM, account, journal, FileBlobStore(tmp_path / "shared" / "blobs"))


def test_a_fenced_out_leader_sends_nothing_and_its_successor_settles_its_anchor(
    tmp_path: Path,
) -> None:
    node = ChainNode()
    old, new = make_instance(tmp_path, node), make_instance(tmp_path, node)
    hashes = [add_batch(old.journal, n) for n in range(1, 4)]
    old.fence = old.journal.acquire_lease("old", now_ms(), 60_000)
    assert old.fence is not None
    built = old._build_next()  # built and journaled, then the old leader stalls
    assert built is not None and built.body.seq == 1 and node.submitted == []
    old.journal.give_up_lease(old.fence)  # as if it expired while the process stalled
    new.fence = new.journal.acquire_lease("new", now_ms(), 60_000)
    assert new.fence is not None and new.fence.epoch == 2
    with pytest.raises(LeaseLost):
        old.step()  # wakes up: refused before it sends anything
    assert node.submitted == []
    outcome = new.step()  # settles the old leader's anchor: the same body, seq 1
    assert outcome is not None and (outcome.seq, outcome.batch_count) == (1, 3)
    assert [a.seq for a in node.submitted] == [1] and node.submitted[0] == built.body
    later = add_batch(new.journal, 4)
    with pytest.raises(LeaseLost):
        old.step()  # nor does it build the next one
    assert new.step() is not None
    assert [a.seq for a in node.submitted] == [1, 2]  # no gap, each seq once
    for seq, h in [(1, x) for x in hashes] + [(2, later)]:
        row = new.journal.get_batch_optional(h)
        assert row is not None and row.anchor_seq == seq
    assert new.journal.get_anchor_epoch(1) == 1 and new.journal.get_anchor_epoch(2) == 2
    assert new.journal.count_batches() == (4, 4)
    old.journal.close()
    new.journal.close()
