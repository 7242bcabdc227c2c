"""The solo engine's block store and transaction index, in the node's database."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from carchain.core.types import TxResult
from carchain.storage.block_codec import compute_list_length, decode_list, encode_list
from carchain.storage.blocks import Block, BlockHeader, compute_block_hash
from carchain.storage.database import Database, find_tx_location, write_tx_index
from carchain.storage.ports import CommitParticipant, WriteTransaction

_enc = msgspec.msgpack.Encoder()
_header_dec = msgspec.msgpack.Decoder(BlockHeader)
_txs_dec = msgspec.msgpack.Decoder(list[bytes])
_results_dec = msgspec.msgpack.Decoder(list[TxResult])


class BlockStore:
    """Blocks by height and transactions by hash (the ``BlockReader``, ``BlockWriter``
    and ``TxIndex`` ports, in the node's SQLite database)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def stage_block(self, block: Block, tx_hashes: list[bytes]) -> CommitParticipant:
        """Return ``block``'s writes, to be made inside the state commit of its height."""
        return _StagedBlock(self, block, tx_hashes)

    def write_block(self, conn: WriteTransaction, block: Block, tx_hashes: list[bytes]) -> None:
        """Write ``block`` inside the caller's transaction (the state commit)."""
        h = block.header
        conn.execute(
            "INSERT INTO blocks (height, hash, header, txs, results) VALUES (?, ?, ?, ?, ?)",
            (
                h.height,
                compute_block_hash(h),
                _enc.encode(h),
                encode_list(block.txs),
                encode_list(block.results),
            ),
        )
        write_tx_index(conn, h.height, tx_hashes)

    def get_height(self) -> int:
        """Return the height of the newest block (0 if none)."""
        row = self.db.conn.execute("SELECT MAX(height) FROM blocks").fetchone()
        return int(row[0] or 0)

    def get_block(self, height: int) -> Block | None:
        """Return the block at ``height`` or ``None``."""
        row = self.db.conn.execute(
            "SELECT header, txs, results FROM blocks WHERE height = ?", (height,)
        ).fetchone()
        if row is None:
            return None
        return Block(
            _header_dec.decode(row[0]),
            decode_list(bytes(row[1]), _txs_dec, height),
            decode_list(bytes(row[2]), _results_dec, height),
        )

    def get_header(self, height: int) -> BlockHeader | None:
        """Return the header at ``height`` or ``None``."""
        row = self.db.conn.execute(
            "SELECT header FROM blocks WHERE height = ?", (height,)
        ).fetchone()
        return None if row is None else _header_dec.decode(row[0])

    def get_header_and_tx_count(self, height: int) -> tuple[BlockHeader, int] | None:
        """Return the header at ``height`` and its number of transactions, or ``None``.

        The count is the length prefix of the stored transaction list (kept in clear
        by ``block_codec``): a header read never inflates (or copies out of SQLite) a
        block's transactions.
        """
        row = self.db.conn.execute(
            "SELECT header, substr(txs, 1, 6) FROM blocks WHERE height = ?", (height,)
        ).fetchone()
        if row is None:
            return None
        return _header_dec.decode(row[0]), compute_list_length(bytes(row[1]), height)

    def get_tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        """Return ``(height, position)`` of a committed transaction, or ``None``."""
        return find_tx_location(self.db.conn, tx_hash)


@dataclass(frozen=True, slots=True)
class _StagedBlock:
    store: BlockStore
    block: Block
    tx_hashes: list[bytes]

    def write_in(self, txn: WriteTransaction) -> None:
        self.store.write_block(txn, self.block, self.tx_hashes)
