"""The access-log benchmark runs end to end at a tiny size (a smoke run, not a measurement)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_access_log.py"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_access_log", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_access_log", module)
    spec.loader.exec_module(module)
    return module


def test_bench_access_log_smoke_run(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--sizes", "1000", "--samples", "5", "--vehicles", "20", "--block-events", "300"]
    rows = bench.main(argv)
    assert [(r.size, r.hot_size) for r in rows] == [(1000, 100)]
    for r in rows:
        cells = (
            r.http_vehicle,
            r.http_oem,
            r.asgi_vehicle,
            r.asgi_oem,
            r.route_vehicle,
            r.route_oem,
        )
        for p50, p99 in cells:
            assert 0 < p50 <= p99
    assert "route OEM" in capsys.readouterr().out


def test_bench_refuses_a_size_too_small_for_pages(bench: ModuleType) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--sizes", "10"])
