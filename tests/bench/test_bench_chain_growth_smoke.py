"""The chain-growth benchmark runs end to end at a tiny size (a smoke run, not a measurement)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_chain_growth.py"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_chain_growth", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_chain_growth", module)
    spec.loader.exec_module(module)
    return module


def test_bench_chain_growth_smoke_run(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    per_block = bench.main(["--blocks", "40", "--warmup", "20", "--oems", "3", "--versions", "5"])
    # Three anchors a block: the signed transactions are a few hundred bytes each and
    # the block store keeps them (deflated) beside their results.
    assert 600 < per_block["(transactions' own bytes)"] < 1_500
    assert per_block["blocks"] > 0
    out = capsys.readouterr().out
    assert "kv rows: anchors" in out and "MB/day" in out


def test_bench_refuses_a_warmup_shorter_than_the_window(bench: ModuleType) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--blocks", "40", "--warmup", "3", "--versions", "5"])
