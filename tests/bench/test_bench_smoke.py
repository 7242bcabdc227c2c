"""Every benchmark runs end to end at a tiny size (a smoke run, not a measurement), so a
format change cannot leave one broken until someone next measures (bench_ingest was)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.objectstore import require_weed

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("bench_ingest.py", ["--seconds", "0.02", "--fleets", "30"], "escrowed 3 of 4"),
        ("bench_access.py", ["--round-trips", "5", "--fill", "200"], "round trips"),
        ("bench_ledger.py", ["--txs", "200", "--repeat", "1"], "tx/s"),
        (
            "bench_ledger.py",
            ["--vehicles", "300,600", "--blocks", "1", "--block-txs", "50", "--compare"],
            "rotate/register",
        ),
        ("bench_state_window.py", ["1", "--blocks", "20", "--updates", "5"], "window"),
        ("bench_case.py", ["--vehicles", "2", "--days", "2"], "shares/s"),
        ("bench_v2x.py", ["--messages", "100", "--repeat", "1"], "msgs/s"),
        (
            "bench_blobstore.py",
            ["--seconds", "0.05", "--rounds", "1", "--files", "200"],
            "files per 10^6",
        ),
        (
            "bench_gateway_ingest.py",
            ["--seconds", "0.2", "--cars", "4", "--per-car", "3", "--threads", "4",
             "--stores", "fs"],
            "group commit",
        ),
        (
            "bench_registry_view.py",
            ["--seconds", "0.2", "--cars", "20", "--threads", "2"],
            "registry view",
        ),
    ],
)  # fmt: skip
def test_bench_smoke_run(script: str, args: list[str], expect: str) -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert expect in out.stdout


@pytest.mark.objectstore
def test_bench_gateway_ingest_on_seaweedfs_smoke_run() -> None:
    """The ingest bench's S3 rows: it starts (and stops) its own SeaweedFS."""
    require_weed()
    args = ["--seconds", "0.2", "--cars", "4", "--per-car", "3", "--threads", "4"]
    test_bench_smoke_run("bench_gateway_ingest.py", [*args, "--stores", "seaweedfs"], "SeaweedFS")
