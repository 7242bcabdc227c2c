"""The storage-engine benchmark runs end to end at a tiny size (a smoke run, not a measurement)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_kv_backends.py"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_kv_backends", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_kv_backends", module)
    spec.loader.exec_module(module)
    return module


def test_bench_kv_backends_smoke_run(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--vehicles", "300", "--blocks", "2", "--block-txs", "50", "--base", "200"]
    results = bench.main([*argv, "--reads", "100"])
    assert [r.vehicles for r in results] == [300]
    for kind in ("register", "rotate"):
        figures = results[0].kinds[kind]
        assert set(figures) == {"SQLite", "LMDB", "RocksDB"}
        for f in figures.values():
            assert len(f.wall_ms) == 2 and min(f.wall_ms) > 0 and min(f.wchar) > 0
    out = capsys.readouterr().out
    assert "commitment storage engines" in out and "/ SQLite" in out and "RocksDB" in out


def test_replay_does_in_a_key_value_store_what_the_sql_did(bench: ModuleType) -> None:
    # The replay into a key-value store must mirror the SQL: the history copy takes the
    # current row, INSERT OR IGNORE keeps the first row, the pruning deletes by height.
    class DictTxn(bench.KVTxn):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            self.tables: dict[str, dict[bytes, bytes]] = {t: {} for t in bench.TABLES}

        def get(self, table: str, key: bytes) -> bytes | None:
            return self.tables[table].get(key)

        def put(self, table: str, key: bytes, value: bytes) -> None:
            self.tables[table][key] = value

        def delete_range(self, table: str, lo: bytes, hi: bytes) -> None:
            for k in [k for k in self.tables[table] if lo <= k < hi]:
                del self.tables[table][k]

    txn = DictTxn()
    kv_sql = "INSERT INTO kv (store, key, value, leaf, height) VALUES (?, ?, ?, ?, ?) ON ..."
    txn_sql = "INSERT OR IGNORE INTO txindex (hash, height, position) VALUES (?, ?, ?)"
    bench.replay_kv(txn, [(kv_sql, [("v", b"k1", b"old", 0, 1)]), (txn_sql, [(b"t", 1, 0)])])
    bench.replay_kv(
        txn,
        [
            ("INSERT OR IGNORE INTO kv_history SELECT ...", [(2, "v", b"k1"), (2, "v", b"nope")]),
            (kv_sql, [("v", b"k1", b"new", 0, 2)]),
            (txn_sql, [(b"t", 2, 5)]),
        ],
    )
    kv_key = b"v\0k1"
    assert txn.tables["kv"][kv_key][16:] == b"new"
    history = txn.tables["kv_history"]
    assert list(history.values()) == [bench.U64.pack(1) + b"old"]  # written at 1, value old
    assert txn.tables["txindex"][b"t"] == bench.TX_POS.pack(1, 0)  # first copy wins
    bench.replay_kv(txn, [("DELETE FROM kv_history WHERE height <= ?", [(2,)])])
    assert txn.tables["kv_history"] == {}
    with pytest.raises(SystemExit):
        bench.replay_kv(txn, [("UPDATE kv SET value = ?", [(b"x",)])])


def test_encoded_keys_sort_as_sqlite_primary_keys(bench: ModuleType) -> None:
    kv = [("a", b"\xff"), ("ab", b"\x00"), ("b", b"")]
    assert sorted(bench.encode_row("kv", (s, k, b"v", 0, 0))[0] for s, k in kv) == [
        bench.encode_row("kv", (s, k, b"v", 0, 0))[0] for s, k in sorted(kv)
    ]
    nodes = [("a", 0, 300), ("a", 1, 2), ("a", 0, 2**33), ("b", 0, 0)]
    assert sorted(bench.encode_row("nodes", (s, lv, ix, b"h", 0))[0] for s, lv, ix in nodes) == [
        bench.encode_row("nodes", (s, lv, ix, b"h", 0))[0] for s, lv, ix in sorted(nodes)
    ]
