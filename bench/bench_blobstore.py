"""Blob store benchmark: the file-per-blob store against the segment store, side by side.

For 4.8 KB sealed batches (the size a car's one-minute batch has), each store in
its durable mode (fsync on, as the gateway runs it):

- durable ingest, batches/s: one batch per call (``put_hashed``) and groups of
  100 (``put_many_hashed``, as ``POST /batches/group`` stores them);
- files created per 10^6 batches: the files the run made (measured), scaled to a
  million batches. ``FileBlobStore`` makes one file per batch. ``SegmentBlobStore``
  has four fixed files (index, its WAL and shared memory, the lock) and one segment
  per ``max_segment_size`` bytes, so its scaled count is 4 + ceil(10^6 x 4800 / 256 MiB).

The machine is shared and fsync rates swing with other work, so the stores take
turns, ``--rounds`` times, and each rate is the median with its range.

Usage: ``.venv/bin/python bench/bench_blobstore.py [--seconds S] [--rounds N] [--dir PATH]``
(``--dir``: a folder on the file system to measure; a temporary one by default).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from carchain.storage.blobstore import FileBlobStore
from carchain.storage.segments import DEFAULT_MAX_SEGMENT_SIZE, SegmentBlobStore

BATCH_SIZE = 4_800
GROUP = 100
MILLION = 1_000_000
SEGMENT_FIXED_FILES = 4  # index.db, index.db-wal, index.db-shm, lock

StoreFactory = Callable[[Path], FileBlobStore | SegmentBlobStore]
STORES: dict[str, StoreFactory] = {
    "file (a file per blob)": lambda root: FileBlobStore(root),
    "segment (256 MiB segments)": lambda root: SegmentBlobStore(root),
}


def count_files(root: Path) -> int:
    """Return the regular files under ``root``."""
    return sum(1 for p in root.rglob("*") if p.is_file())


def make_batches(n: int, start: int) -> list[tuple[bytes, bytes]]:
    """Return ``n`` distinct 4.8 KB pseudo-random batches with their addresses."""
    out = []
    for i in range(start, start + n):
        seed = hashlib.sha256(b"batch %d" % i).digest()
        data = (seed * (BATCH_SIZE // 32 + 1))[:BATCH_SIZE]
        out.append((hashlib.sha256(data).digest(), data))
    return out


def ingest_rate(factory: StoreFactory, base: Path, group: int, seconds: float) -> tuple[float, int]:
    """Store batches in calls of ``group`` for about ``seconds``; return (batches/s, batches)."""
    with tempfile.TemporaryDirectory(prefix="carchain-bench-blobs-", dir=base) as tmp:
        store = factory(Path(tmp) / "blobs")
        stored, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            batches = make_batches(group, stored)
            if group == 1:
                store.put_hashed(*batches[0])
            else:
                store.put_many_hashed(batches)
            stored += group
        store.close()
        return stored / elapsed, stored


def files_per_million(factory: StoreFactory, base: Path, batches: int) -> tuple[int, float]:
    """Store ``batches`` in groups; return (files created, files per 10^6 batches)."""
    with tempfile.TemporaryDirectory(prefix="carchain-bench-blobs-", dir=base) as tmp:
        root = Path(tmp) / "blobs"
        store = factory(root)
        for start in range(0, batches, GROUP):
            store.put_many_hashed(make_batches(GROUP, start))
        created = count_files(root)
        store.close()
    if isinstance(store, SegmentBlobStore):
        segments = math.ceil(MILLION * BATCH_SIZE / DEFAULT_MAX_SEGMENT_SIZE)
        return created, SEGMENT_FIXED_FILES + segments
    return created, created / batches * MILLION


def format_rates(rates: list[float]) -> str:
    """Return the median rate with the range of the rounds."""
    return f"{statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="turns of each store")
    parser.add_argument("--files", type=int, default=10_000, help="batches for the file count")
    parser.add_argument("--dir", type=Path, default=None, help="where to measure")
    args = parser.parse_args(argv)
    base = args.dir or Path(tempfile.gettempdir())
    console = Console(width=120)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(
        f"[bold]bench_blobstore[/bold] {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}, load {load}, in {base}"
    )
    table = Table(
        "store",
        "batches/s, one a call",
        f"batches/s, groups of {GROUP}",
        f"files for {args.files:,} batches",
        "files per 10^6 batches",
        title=f"durable ingest of {BATCH_SIZE / 1000:.1f} KB batches (fsync on)",
    )
    rates: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):
        for group in (1, GROUP):
            for name, factory in STORES.items():
                rate, _ = ingest_rate(factory, base, group, args.seconds)
                rates.setdefault((name, group), []).append(rate)
    for name, factory in STORES.items():
        created, scaled = files_per_million(factory, base, args.files)
        single, grouped = (format_rates(rates[name, g]) for g in (1, GROUP))
        table.add_row(name, single, grouped, f"{created:,}", f"{scaled:,.0f}")
    console.print(table)


if __name__ == "__main__":
    main()
