"""Stateless verdicts (decode, chain id, type, Ed25519 signature) cached by transaction
hash, and computed many at a time on a small thread pool.

A verdict depends on the transaction's bytes and the chain id alone, so where it is
computed cannot change it: a batch checked on the pool gets exactly the verdicts a
serial loop gives. libsodium's verify runs without the GIL (PyNaCl calls it through
cffi), so the pool's workers verify a batch on the other core while the caller's
thread executes a block or admits the transactions already verified. Only the
caller's thread reads or writes the cache; workers return verdicts, nothing else.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from carchain.core import block as core_block
from carchain.core.transactions import Envelope, compute_tx_hash
from carchain.errors import CarchainError

Verdict = Envelope | CarchainError

STATELESS_CACHE_SIZE = 200_000
POOL_WORKERS = 2
CHUNK = 128  # transactions per pool task: a few ms of work, far above the hand-off cost
MIN_POOLED = 32  # a smaller batch is checked inline: the pool would only add latency
# How long a thread may keep the GIL while another waits for it (CPython: 5 ms). A worker
# needs the GIL back after every libsodium call; at 5 ms it mostly waits while the main
# thread executes Python (one interleaved pair of runs: pooled 0.9-1.0x serial at 5 ms,
# 1.5-1.8x at 0.5 ms; wall rates need a free core, see docs/benchmarks.md).
SWITCH_INTERVAL_S = 0.0005


def apply_switch_interval() -> float:
    """Set the interpreter's switch interval to ``SWITCH_INTERVAL_S``; return the previous.

    Process-wide, so the composition root calls it (the node's server, a benchmark),
    never a library call: the verdicts do not depend on it, only the pool's speed.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return previous


def compute_verdict(raw: bytes, chain_id: str) -> Verdict:
    """Return the envelope if ``raw`` passes the stateless checks, else the error."""
    try:
        return core_block.validate_stateless(raw, chain_id)
    except CarchainError as exc:
        return exc


def compute_verdicts(raws: Sequence[bytes], chain_id: str) -> list[Verdict]:
    """Return each transaction's verdict, in order."""
    return [compute_verdict(raw, chain_id) for raw in raws]


@dataclass(frozen=True, slots=True)
class VerdictBatch:
    """Stateless checks under way: ``positions`` (into the caller's list) of the
    transactions not cached when the batch started, their bytes, hashes and the
    chunks' futures (in order)."""

    positions: list[int]
    raws: list[bytes]
    hashes: list[bytes]
    chunks: list[Future[list[Verdict]]]

    def iterate(self) -> Iterator[tuple[int, bytes, bytes, Verdict]]:
        """Yield ``(position, raw, hash, verdict)`` in order, waiting for each chunk."""
        at = 0
        for chunk in self.chunks:
            for verdict in chunk.result():
                yield self.positions[at], self.raws[at], self.hashes[at], verdict
                at += 1


class StatelessCache:
    """Verdicts by transaction hash (``compute_tx_hash`` of the bytes, as every caller
    computes it: the hash names the bytes, so no entry keeps them; an invalid upload of
    64 KiB then costs the cache a small error, not its bytes)."""

    def __init__(self, size: int = STATELESS_CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, Verdict] = OrderedDict()
        self._pool: ThreadPoolExecutor | None = None

    def get_verdict(self, raw: bytes, tx_hash: bytes, chain_id: str) -> Verdict:
        """Return ``raw``'s verdict, computing it here if it is not cached."""
        cached = self._entries.get(tx_hash)
        if cached is not None:
            return cached
        verdict = compute_verdict(raw, chain_id)
        self.store(raw, tx_hash, verdict)
        return verdict

    def is_cached(self, raw: bytes, tx_hash: bytes) -> bool:
        """Return whether ``raw``'s verdict is cached."""
        return tx_hash in self._entries

    def store(self, raw: bytes, tx_hash: bytes, verdict: Verdict) -> None:
        """Cache ``raw``'s verdict, dropping the oldest entry when full."""
        self._entries[tx_hash] = verdict
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def start(self, raws: Sequence[bytes], chain_id: str) -> VerdictBatch:
        """Start the stateless checks of the transactions of ``raws`` not cached yet: on
        the pool for a batch of at least ``MIN_POOLED``, else inline."""
        hashes = [compute_tx_hash(raw) for raw in raws]
        todo = [i for i, h in enumerate(hashes) if not self.is_cached(raws[i], h)]
        batch = VerdictBatch(todo, [raws[i] for i in todo], [hashes[i] for i in todo], [])
        for at in range(0, len(todo), CHUNK):
            batch.chunks.append(self._submit(batch.raws[at : at + CHUNK], chain_id, len(todo)))
        return batch

    def collect(self, batch: VerdictBatch) -> Iterator[int]:
        """Cache each verdict of ``batch`` as it arrives; yield its position after it."""
        for position, raw, tx_hash, verdict in batch.iterate():
            self.store(raw, tx_hash, verdict)
            yield position

    def close(self) -> None:
        """Stop the pool's workers (a later batch starts a new pool)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _submit(self, raws: list[bytes], chain_id: str, total: int) -> Future[list[Verdict]]:
        if total < MIN_POOLED:
            done: Future[list[Verdict]] = Future()
            done.set_result(compute_verdicts(raws, chain_id))
            return done
        if self._pool is None:
            self._pool = ThreadPoolExecutor(POOL_WORKERS, thread_name_prefix="carchain-verify")
        return self._pool.submit(compute_verdicts, raws, chain_id)
