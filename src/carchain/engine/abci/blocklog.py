"""The application's own record of decided blocks on a CometBFT network.

Written in the same SQLite transaction as the state of each block (staged with
``stage_block`` and passed to ``Application.commit``), so it can never disagree
with the state. It holds
what the node API serves without asking CometBFT: CometBFT's block hash, time,
proposer, transactions, their results, and the app hash CometBFT's header of
that height carries — the state *before* the block (header ``H`` commits to the
state after block ``H-1``). Transactions and results are stored deflated
(``storage/block_codec.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from carchain.core.types import TxResult
from carchain.storage.block_codec import decode_list, encode_list
from carchain.storage.database import Database, find_tx_location, write_tx_index
from carchain.storage.ports import CommitParticipant, WriteTransaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS abci_blocks (
    height INTEGER PRIMARY KEY, hash BLOB NOT NULL, time_ms INTEGER NOT NULL,
    proposer BLOB NOT NULL, header_app_hash BLOB NOT NULL, app_hash BLOB NOT NULL,
    txs BLOB NOT NULL, results BLOB NOT NULL
);
"""

_txs_dec = msgspec.msgpack.Decoder(list[bytes])
_results_dec = msgspec.msgpack.Decoder(list[TxResult])


@dataclass(frozen=True, slots=True)
class DecidedBlock:
    """A block as CometBFT decided it and this application executed it."""

    height: int
    hash: bytes
    time_ms: int
    proposer: bytes
    header_app_hash: bytes
    app_hash: bytes
    txs: list[bytes]
    results: list[TxResult]


class BlockLog:
    """Decided blocks and the transaction index, in the node's state database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.conn.executescript(SCHEMA)

    def stage_block(self, block: DecidedBlock, tx_hashes: list[bytes]) -> CommitParticipant:
        """Return ``block``'s writes, to be made inside the state commit of its height."""
        return _StagedDecidedBlock(self, block, tx_hashes)

    def write_block(
        self, conn: WriteTransaction, block: DecidedBlock, tx_hashes: list[bytes]
    ) -> None:
        """Write ``block`` inside the caller's (the state commit's) transaction."""
        conn.execute(
            "INSERT OR REPLACE INTO abci_blocks (height, hash, time_ms, proposer, "
            "header_app_hash, app_hash, txs, results) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                block.height,
                block.hash,
                block.time_ms,
                block.proposer,
                block.header_app_hash,
                block.app_hash,
                encode_list(block.txs),
                encode_list(block.results),
            ),
        )
        write_tx_index(conn, block.height, tx_hashes)

    def get_block(self, height: int) -> DecidedBlock | None:
        """Return the decided block at ``height`` or ``None``."""
        row = self.db.conn.execute(
            "SELECT height, hash, time_ms, proposer, header_app_hash, app_hash, txs, results "
            "FROM abci_blocks WHERE height = ?",
            (height,),
        ).fetchone()
        if row is None:
            return None
        return DecidedBlock(
            int(row[0]),
            bytes(row[1]),
            int(row[2]),
            bytes(row[3]),
            bytes(row[4]),
            bytes(row[5]),
            decode_list(bytes(row[6]), _txs_dec, height),
            decode_list(bytes(row[7]), _results_dec, height),
        )

    def get_header_app_hash(self, height: int) -> bytes | None:
        """Return the app hash CometBFT's header ``height`` carries, if that block is here."""
        row = self.db.conn.execute(
            "SELECT header_app_hash FROM abci_blocks WHERE height = ?", (height,)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def get_height(self) -> int:
        """Return the newest recorded height (0 if none)."""
        row = self.db.conn.execute("SELECT MAX(height) FROM abci_blocks").fetchone()
        return int(row[0] or 0)

    def get_tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        """Return ``(height, position)`` of a committed transaction, or ``None``."""
        return find_tx_location(self.db.conn, tx_hash)


@dataclass(frozen=True, slots=True)
class _StagedDecidedBlock:
    log: BlockLog
    block: DecidedBlock
    tx_hashes: list[bytes]

    def write_in(self, txn: WriteTransaction) -> None:
        self.log.write_block(txn, self.block, self.tx_hashes)
