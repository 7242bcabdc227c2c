"""The network benchmark runs end to end at tiny size: carchain and CometBFT's kvstore
(``abci-cli`` built by the setup step) on a 1-validator localnet, one short rate step,
both rows, the ratios and carchain's CPU profile printed, every process stopped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.network.conftest import require_network_setup

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[2]


def test_both_applications_run_and_the_ratio_is_printed() -> None:
    require_network_setup()
    argv = [sys.executable, str(ROOT / "bench" / "bench_network.py"), "--validators", "1",
            "--rates", "100", "--seconds", "2"]  # fmt: skip
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, env=dict(os.environ), check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    rows = [line.split() for line in lines if line.split()[:1] == ["100"]]
    assert len(rows) == 2  # carchain's step, then the kvstore's
    for row in rows:
        submitted, send_failed, committed, failed = (int(x) for x in row[1:5])
        assert submitted > 0 and send_failed == failed == 0 and committed == submitted
    assert any(line.startswith("ratio") for line in lines)
    phases = {line.split()[0] for line in lines if line.strip()}
    assert {"check_tx", "recheck", "finalize_block", "commit", "codec:"} <= phases
