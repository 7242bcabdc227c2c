"""The embedded storage implementations satisfy the ports (``storage/ports.py``).

The typed assignments below are checked by ``mypy`` (this file is in the
``[tool.mypy] files`` of pyproject.toml, so ``make lint`` fails if an
implementation drifts from its port); the tests check the one cross-port rule:
a staged block is written in the state commit's transaction, or nothing is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from carchain.engine.abci.blocklog import BlockLog, DecidedBlock
from carchain.storage.blobstore import FileBlobStore
from carchain.storage.blocks import Block, BlockHeader
from carchain.storage.blockstore import BlockStore
from carchain.storage.database import Database
from carchain.storage.ports import (
    BlobStore,
    BlockReader,
    BlockWriter,
    CommitParticipant,
    CommittedState,
    TxIndex,
    WriteTransaction,
)
from carchain.storage.s3_blobs import S3BlobStore
from carchain.storage.s3_location import S3Location
from carchain.storage.segments import SegmentBlobStore
from carchain.storage.statestore import BlockOverlay, StateStore
from tests.objectstore import ObjectStore


def as_committed_state(db: Database) -> CommittedState[BlockOverlay]:
    return StateStore(db)


def as_block_ports(db: Database) -> tuple[BlockReader[Block], BlockWriter[Block], TxIndex]:
    store = BlockStore(db)
    return store, store, store


def as_decided_block_ports(
    db: Database,
) -> tuple[BlockReader[DecidedBlock], BlockWriter[DecidedBlock], TxIndex]:
    log = BlockLog(db)
    return log, log, log


def as_blob_store(root: Path) -> BlobStore:
    return FileBlobStore(root, fsync=False)


def as_segment_blob_store(root: Path) -> BlobStore:
    return SegmentBlobStore(root, fsync=False)


def as_s3_blob_store(location: S3Location) -> BlobStore:
    return S3BlobStore(location, "blobs")


def _block(height: int, app_hash: bytes) -> Block:
    header = BlockHeader("c", height, 1, b"", b"", b"", app_hash, b"\x00" * 20)
    return Block(header, [b"tx"], [])


class _Failing:
    def write_in(self, txn: WriteTransaction) -> None:
        raise RuntimeError("disk full")


def test_implementations_answer_through_their_ports(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    state = as_committed_state(db)
    reader, writer, index = as_block_ports(db)
    overlay = state.begin_block()
    overlay.set("members", b"a", b"1")
    staged: CommitParticipant = writer.stage_block(_block(1, overlay.compute_app_hash()), [b"h"])
    state.commit(overlay, 1, [staged])
    assert (state.height, reader.get_height(), index.get_tx_location(b"h")) == (1, 1, (1, 0))
    assert state.get("members", b"a") == b"1"
    assert state.prove("members", b"a").app_hash == state.app_hash
    blobs = as_blob_store(tmp_path / "blobs")
    assert blobs.get(blobs.put(b"x")) == b"x"
    segments = as_segment_blob_store(tmp_path / "segments")
    assert segments.get(segments.put(b"x")) == b"x"
    db.close()


def test_failed_participant_aborts_the_state_commit(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    state = as_committed_state(db)
    reader, writer, _ = as_block_ports(db)
    overlay = state.begin_block()
    overlay.set("members", b"a", b"1")
    block = writer.stage_block(_block(1, overlay.compute_app_hash()), [b"h"])
    with pytest.raises(RuntimeError):
        state.commit(overlay, 1, [block, _Failing()])
    assert StateStore(db).height == 0  # neither the state nor the block was kept
    assert reader.get_height() == 0
    db.close()


@pytest.mark.objectstore
def test_the_s3_store_answers_through_its_port(objectstore: ObjectStore) -> None:
    blobs = as_s3_blob_store(objectstore.make_location("ports"))
    assert blobs.get(blobs.put(b"x")) == b"x"
