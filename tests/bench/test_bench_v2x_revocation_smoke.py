"""The revocation benchmark runs end to end at a tiny size (a smoke run, not a measurement)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_v2x_revocation.py"


def test_bench_v2x_revocation_smoke_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("bench_v2x_revocation", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_v2x_revocation", module)
    spec.loader.exec_module(module)
    rows = module.main(["--sizes", "3", "30", "--lookups", "1000"])
    assert [r.revoked for r in rows] == [3, 30]
    assert all(r.precompute_s > 0 and r.miss_ns > 0 and r.hit_ns > 0 for r in rows)
    assert "lookup miss" in capsys.readouterr().out
