"""The journal's counts (``status``: accepted, anchored, anchors) are kept in the
transactions that change them, never counted over the tables; a journal of an older
version gets them once from its tables; whatever the order of operations, the kept
values equal a count over the tables."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.core.anchors import SubmitAnchor
from carchain.crypto.hashing import compute_sha256
from carchain.gateway.journal import AnchorRow, Journal, NewBatch


def new_batch(n: int) -> NewBatch:
    header = b"header-%d" % n
    return NewBatch(compute_sha256(header), "saic:veh-1", 1, n, 1000 * n, 1000 * n + 999, 5,
                    64, header)  # fmt: skip


def anchor(seq: int, batches: int, height: int = 0) -> AnchorRow:
    body = SubmitAnchor(seq, b"\x01" * 32, batches, 5 * batches, 0, 1, b"\x02" * 32)
    return AnchorRow(body, b"tx-%d" % seq, compute_sha256(b"tx-%d" % seq), height)


def anchor_unanchored(journal: Journal, seq: int) -> int:
    rows = journal.get_unanchored(1000)
    journal.add_anchor(anchor(seq, len(rows)), [r.header_hash for r in rows])
    return len(rows)


def test_counts_follow_batches_anchors_and_confirmations(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    journal.add_batches([new_batch(i) for i in range(5)])
    assert journal.count_batches() == (5, 0) and journal.count_anchors() == 0
    assert anchor_unanchored(journal, 1) == 5
    assert journal.count_batches() == (5, 0)  # built, not committed: not anchored
    journal.confirm_anchor(1, 10)
    journal.confirm_anchor(1, 10)  # seen committed twice: counted once
    assert journal.count_batches() == (5, 5) and journal.count_anchors() == 1
    journal.add_batches([new_batch(i) for i in range(5, 8)])
    anchor_unanchored(journal, 2)
    journal.release_anchor(2)  # an unconfirmed anchor dropped: its batches unanchored
    assert journal.count_batches() == (8, 5) and journal.count_anchors() == 1
    hashes = [new_batch(i).header_hash for i in range(5, 8)]
    journal.release_anchor(3, adopted=anchor(3, 3, height=12), header_hashes=tuple(hashes))
    assert journal.count_batches() == (8, 8) and journal.count_anchors() == 2
    assert all(kept == counted for kept, counted in journal.recount().values())


def test_a_committed_anchor_is_neither_released_nor_unconfirmed(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    journal.add_batches([new_batch(i) for i in range(3)])
    anchor_unanchored(journal, 1)
    journal.confirm_anchor(1, 4)
    journal.release_anchor(1)  # only an unconfirmed anchor is dropped
    assert journal.count_batches() == (3, 3) and journal.get_unanchored(10) == []
    with pytest.raises(ValueError, match="at least 1"):
        journal.confirm_anchor(1, 0)
    assert all(kept == counted for kept, counted in journal.recount().values())


def test_a_journal_without_counters_gets_them_from_its_tables(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    journal = Journal(path)
    journal.add_batches([new_batch(i) for i in range(4)])
    anchor_unanchored(journal, 1)
    journal.confirm_anchor(1, 3)
    journal.add_batches([new_batch(9)])
    journal.close()
    with sqlite3.connect(path) as conn:  # as an older version left it: no counters
        conn.execute("DROP TABLE counters")
    again = Journal(path)
    assert again.count_batches() == (5, 4) and again.count_anchors() == 1
    again.close()


def test_a_refused_group_leaves_the_counts_alone(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    journal.add_batches([new_batch(1)])
    try:
        journal.add_batches([new_batch(2), new_batch(1)])  # the second is a duplicate
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("a duplicate batch was accepted")
    assert journal.count_batches() == (1, 0)


_OPS = st.lists(st.sampled_from(["add", "anchor", "confirm", "release", "adopt"]), max_size=25)


@settings(max_examples=40, deadline=None)
@given(ops=_OPS)
def test_kept_counts_equal_the_tables_after_any_operations(ops: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "journal.db")
        next_batch, next_seq = 0, 1
        for op in ops:
            pending = journal.get_unconfirmed_anchor_optional()
            if op == "add":
                journal.add_batches([new_batch(next_batch), new_batch(next_batch + 1)])
                next_batch += 2
            elif op == "anchor" and pending is None and journal.get_unanchored(1):
                anchor_unanchored(journal, next_seq)
                next_seq += 1
            elif op == "confirm" and pending is not None:
                journal.confirm_anchor(pending.body.seq, 7)
            elif op == "release" and pending is not None:
                journal.release_anchor(pending.body.seq)
            elif op == "adopt" and pending is not None:
                rows = journal.get_unanchored(1000)
                hashes = tuple(r.header_hash for r in rows)
                adopted = anchor(pending.body.seq, len(rows), height=9)
                journal.release_anchor(pending.body.seq, adopted=adopted, header_hashes=hashes)
            for kept, counted in journal.recount().values():
                assert kept == counted
        journal.close()
