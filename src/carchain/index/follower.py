"""The indexer's loop: from the index's cursor, read the next committed heights and
their access-log entries from a node, write them as one transaction, repeat.

Access-log entries are state, not block events (end-of-block steps append some), so
they are read from each OEM's log (``access: olog/<oem>/<n>``) from the first seq the
index lacks, and kept when their height is in the run. Each OEM log is in height
order, so the first entry above the run ends that OEM's read; it is read again with
the next run. An entry's height is at most the state height read, so every entry of
a height at or below the run's last is in the state read: nothing is missed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from carchain.index.rows import IndexRows, compute_access_row, compute_block_rows
from carchain.index.source import ChainSource
from carchain.index.store import IndexStore

DEFAULT_BATCH_BLOCKS = 100
# A run stops adding blocks once it holds this many rows (one transaction stays bounded).
MAX_RUN_ROWS = 200_000


@dataclass(frozen=True, slots=True)
class RunReport:
    """What one run wrote: heights ``first..last`` and how many rows."""

    first: int
    last: int
    rows: int


def compute_run_rows(
    source: ChainSource, store: IndexStore, first: int, last: int
) -> tuple[int, IndexRows]:
    """Return the last height of the run and the rows of heights ``first..`` up to it:
    ``last`` or, once the blocks hold ``MAX_RUN_ROWS`` rows, the height reached."""
    rows = IndexRows()
    for height in range(first, last + 1):
        compute_block_rows(source.get_block(height), rows)
        if rows.count() >= MAX_RUN_ROWS:
            last = height
            break
    oems = source.list_members()
    for oem, start in store.get_oem_next_seqs(oems).items():
        for oem_seq, event in source.iterate_oem_entries(oem, start):
            if event.height > last:
                break
            rows.access_log.append(compute_access_row(oem, oem_seq, event))
    return last, rows


def index_next_run(
    source: ChainSource, store: IndexStore, batch_blocks: int = DEFAULT_BATCH_BLOCKS
) -> RunReport | None:
    """Index the next run of committed heights after the cursor; ``None`` when caught up."""
    cursor = store.get_cursor()
    latest = source.get_latest_height()
    if latest <= cursor:
        return None
    last = min(latest, cursor + batch_blocks)
    last, rows = compute_run_rows(source, store, cursor + 1, last)
    store.write_run(cursor + 1, last, rows)
    return RunReport(cursor + 1, last, rows.count())


def run_indexer(
    source: ChainSource,
    store: IndexStore,
    follow: bool,
    batch_blocks: int = DEFAULT_BATCH_BLOCKS,
    poll_s: float = 1.0,
    on_run: Callable[[RunReport], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Index until caught up (``follow``: keep following, polling every ``poll_s``);
    return the cursor reached."""
    while not should_stop():
        report = index_next_run(source, store, batch_blocks)
        if report is not None:
            if on_run is not None:
                on_run(report)
            continue
        if not follow:
            break
        time.sleep(poll_s)
    return store.get_cursor()
