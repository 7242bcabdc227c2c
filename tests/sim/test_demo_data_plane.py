"""The demo's data stage, end to end: drive, upload, anchor, verify one record offline."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.sim.conftest import DemoRun


def test_demo_drives_anchors_and_verifies(demo_run: DemoRun, tmp_path: Path) -> None:
    summary = demo_run.summary
    shutil.copytree(demo_run.bundle_dir, tmp_path / "proof")
    data = summary.data
    assert data is not None
    # One batch per car, and the crashed car's EDR event in a batch of its own (so 3).
    assert data.vehicles == 20 and data.batches == 22
    assert data.records > 20 * 100 and data.upload_bytes > data.record_bytes > 0
    assert data.anchor_txs >= 3  # at least one per OEM gateway
    assert data.max_anchors_per_gateway_block == 1
    assert data.rejected == {"replayed_batch": 1, "vehicle_revoked": 1}
    assert data.verified is not None and data.verified.kind == "edr"
    # A car sold after the drive re-keys: the buyer opens its next batch, the seller cannot,
    # and the same batch under the seller's key is refused.
    assert "the seller cannot open it" in data.resale
    assert "old key was refused (invalid_key_envelope)" in data.resale
    text = demo_run.console
    assert "record verified end to end" in text and "anchor transactions" in text

    bundle = tmp_path / "proof" / "bundle.json"
    header = tmp_path / "proof" / "header.json"
    ok = subprocess.run(
        [sys.executable, "-m", "carchain.cli.main", "verify", str(bundle), "--header", str(header)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert ok.returncode == 0, ok.stderr
    assert "verified edr record" in ok.stdout
    doc = json.loads(bundle.read_text())
    doc["state"]["anchor_value"] = "00" + doc["state"]["anchor_value"][2:]
    bundle.write_text(json.dumps(doc))
    bad = subprocess.run(
        [sys.executable, "-m", "carchain.cli.main", "verify", str(bundle), "--header", str(header)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert bad.returncode == 1 and "anchor is not in the app hash" in bad.stderr


def test_drive_hour_never_straddles_midnight() -> None:
    """Regression: run within an hour after midnight UTC, the drive's hour spanned two
    key epochs, every batch split in two and the batch counts doubled."""
    from carchain.data.batches import EPOCH_MS, compute_epoch
    from carchain.sim.drive import HOUR_MS, compute_drive_start

    midnight = 20_000 * EPOCH_MS
    for now in (midnight + 60_000, midnight + HOUR_MS - 1, midnight, midnight + 5 * HOUR_MS):
        start = compute_drive_start(now, HOUR_MS)
        assert compute_epoch(start) == compute_epoch(start + HOUR_MS - 1)
        assert start + HOUR_MS <= now
    assert compute_drive_start(midnight + 5 * HOUR_MS, HOUR_MS) == midnight + 4 * HOUR_MS
