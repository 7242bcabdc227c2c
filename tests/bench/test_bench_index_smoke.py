"""The audit-index benchmark runs end to end at a tiny size (a smoke run, not a measurement)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.postgres_cluster import find_pg_bin

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_index.py"


@pytest.mark.skipif(find_pg_bin() is None, reason="no PostgreSQL server: scripts/setup_postgres.py")
def test_bench_index_smoke_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("bench_index", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_index", module)
    spec.loader.exec_module(module)
    argv = ["--blocks", "2", "--txs", "50", "--events", "5000", "--samples", "20"]
    figures = module.main(argv)
    assert figures["rows"] == 2 * (1 + 50 + 100 + 50)  # block, txs, 2 events each, access rows
    assert figures["indexer_rows_s"] > 0 and figures["copy_rows_s"] > 0
    assert 0 < figures["vehicle_p50"] <= figures["vehicle_p99"]
    assert "ratio indexer / plain COPY" in capsys.readouterr().out
