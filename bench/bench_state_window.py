"""Commit cost per block against the state window (``state_versions``).

A store of 20,000 keys, then BLOCKS blocks of UPDATES overwrites of random keys and
UPDATES/10 inserts (the worst case for history: every overwrite leaves an undo row
for the value and for each commitment node on its path). Reports the CPU time of
``StateStore.commit`` (fsync waits excluded: the machine's disk is shared and
noisy) and its median wall time over the last 200 blocks, for each window given,
once the window is full.

Usage: ``.venv/bin/python bench/bench_state_window.py [--blocks 1200] [--updates 100]
[WINDOW ...]`` (default windows 1 100 1000).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from carchain.storage.database import Database
from carchain.storage.statestore import StateStore

BASE_KEYS = 20_000


def measure(window: int, blocks: int, updates: int) -> tuple[float, float, float]:
    """Return (mean commit CPU ms, median commit wall ms, database MB)."""
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.db"
        db = Database(path)
        state = StateStore(db, versions=window)
        overlay = state.begin_block()
        for i in range(BASE_KEYS):
            overlay.set("vehicles", b"v/%d" % i, b"x")
        state.commit(overlay, 1, None)
        n = BASE_KEYS
        cpu: list[float] = []
        wall: list[float] = []
        for height in range(2, blocks + 2):
            overlay = state.begin_block()
            for _ in range(updates):
                overlay.set("vehicles", b"v/%d" % rng.randrange(n), rng.randbytes(20))
            for _ in range(updates // 10):
                overlay.set("vehicles", b"v/%d" % n, b"y")
                n += 1
            overlay.compute_app_hash()
            t, c = time.perf_counter(), time.process_time()
            state.commit(overlay, height, None)
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        db.close()
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    last_cpu, last_wall = cpu[-200:], sorted(wall[-200:])
    return sum(last_cpu) / len(last_cpu) * 1e3, last_wall[len(last_wall) // 2] * 1e3, size / 1e6


def main() -> None:
    """Parse arguments and print one line per window."""
    parser = argparse.ArgumentParser()
    parser.add_argument("windows", nargs="*", type=int, default=[1, 100, 1000])
    parser.add_argument("--blocks", type=int, default=1200)
    parser.add_argument("--updates", type=int, default=100)
    args = parser.parse_args()
    for window in args.windows:
        cpu, wall, mb = measure(window, args.blocks, args.updates)
        print(
            f"window {window:>5}: commit CPU {cpu:6.2f} ms/block, wall median {wall:6.2f} ms, "
            f"database {mb:6.1f} MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
