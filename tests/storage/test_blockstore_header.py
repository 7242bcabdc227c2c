"""The block store keeps transactions and results deflated (``block_codec``) and reads a
header and its transaction count without inflating the transactions."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from carchain.core.types import Event, TxResult
from carchain.errors import StorageCorrupted
from carchain.storage.block_codec import compute_list_length, decode_list, encode_list
from carchain.storage.blocks import Block, BlockHeader
from carchain.storage.blockstore import BlockStore
from carchain.storage.database import Database

_txs = msgspec.msgpack.Decoder(list[bytes])


@pytest.mark.parametrize("count", [0, 1, 15, 16, 65535, 65536])
def test_list_length_from_the_stored_prefix(count: int) -> None:
    """Every msgpack array form msgspec writes (fixarray, array 16, array 32), stored
    deflated or, as before compression, plain."""
    items = [b"tx%d" % (i % 7) for i in range(count)]
    plain = msgspec.msgpack.encode(items)
    assert compute_list_length(encode_list(items)[:6], 7) == count
    assert compute_list_length(plain[:6], 7) == count


@pytest.mark.parametrize("count", [0, 1, 16, 70000])
def test_stored_list_reads_back_exactly(count: int) -> None:
    items = [bytes([i % 251]) * (i % 40) for i in range(count)]
    stored = encode_list(items)
    assert stored[0] == 0xC1
    assert decode_list(stored, _txs, 1) == items
    assert decode_list(msgspec.msgpack.encode(items), _txs, 1) == items  # a row from before


def test_repetitive_transactions_are_stored_smaller() -> None:
    items = [b"carchain-main anchor.submit seq root batch_count %d" % i for i in range(10)]
    assert len(encode_list(items)) < len(msgspec.msgpack.encode(items)) * 0.6


@pytest.mark.parametrize("prefix", [b"", b"\xc4\x00", b"\xdc\x01", b"\xdd\x00\x00\x01", b"\x80"])
def test_invalid_prefix_is_storage_corrupted(prefix: bytes) -> None:
    for stored in (prefix, b"\xc1" + prefix):
        with pytest.raises(StorageCorrupted) as info:
            compute_list_length(stored, 7)
        assert info.value.height == 7


@pytest.mark.parametrize(
    "stored",
    [b"\xc1", b"\xc1\x80", b"\xc1\x92not deflate", b"\xc1\x91" + encode_list([b"x"])[2:-1]],
)
def test_damaged_stored_list_is_storage_corrupted(stored: bytes) -> None:
    with pytest.raises(StorageCorrupted) as info:
        decode_list(stored, _txs, 9)
    assert info.value.height == 9


def test_block_round_trips_through_the_store(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    store = BlockStore(db)
    header = BlockHeader("c", 1, 5, b"", b"r" * 32, b"s" * 32, b"a" * 32, b"p" * 20)
    result = TxResult(0, "", "", [Event("anchor_submitted", {"oem": "saic", "seq": "1"})])
    block = Block(header, [b"tx-a", b"tx-b"], [result, result])
    with db.transaction() as conn:
        store.write_block(conn, block, [b"h" * 32, b"i" * 32])
    assert store.get_block(1) == block
    assert store.get_header_and_tx_count(1) == (header, 2)
    assert store.get_tx_location(b"i" * 32) == (1, 1)
    db.close()


def test_block_written_before_compression_still_reads(tmp_path: Path) -> None:
    """A database from before keeps plain msgpack rows: they read as they are."""
    db = Database(tmp_path / "s.db")
    store = BlockStore(db)
    header = BlockHeader("c", 1, 5, b"", b"r" * 32, b"s" * 32, b"a" * 32, b"p" * 20)
    result = TxResult(0, "", "", [])
    txs = [b"tx-%d" % i for i in range(20)]
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO blocks (height, hash, header, txs, results) VALUES (?, ?, ?, ?, ?)",
            (
                1,
                b"h" * 32,
                msgspec.msgpack.encode(header),
                msgspec.msgpack.encode(txs),
                msgspec.msgpack.encode([result] * 20),
            ),
        )
    assert store.get_block(1) == Block(header, txs, [result] * 20)
    assert store.get_header_and_tx_count(1) == (header, 20)
    db.close()


def test_damaged_stored_block_is_storage_corrupted(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    store = BlockStore(db)
    header = BlockHeader("c", 4, 5, b"", b"r" * 32, b"s" * 32, b"a" * 32, b"p" * 20)
    with db.transaction() as conn:
        store.write_block(conn, Block(header, [b"tx"], [TxResult(0, "", "", [])]), [b"h" * 32])
        conn.execute("UPDATE blocks SET txs = substr(txs, 1, length(txs) - 2)")
    with pytest.raises(StorageCorrupted) as info:
        store.get_block(4)
    assert info.value.height == 4
    db.close()
