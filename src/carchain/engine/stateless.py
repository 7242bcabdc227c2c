"""Stateless verdicts (decode, chain id, type, Ed25519 signature) cached by transaction
hash, the signatures of a batch checked in a worker process.

A verdict depends on the transaction's bytes and the chain id alone, so where it is
computed cannot change it: a batch checked in the worker gets exactly the verdicts a
serial loop gives. The worker answers one bit per transaction, "passes every
stateless check"; the caller's thread then decodes a passing transaction itself
(every check but the signature's, microseconds) and runs the whole check again on a
failing one, so each error is the one the serial loop raises and the worker is
trusted for one thing only: that a signature verified. A process, not threads: a
thread needs the GIL back after every libsodium call and waits for it while the
caller's thread executes Python (measured: threads gave 0.96-1.03x one core on an
idle second core, docs/benchmarks.md). Only the caller's thread reads or writes the
cache. If the worker dies, its chunks are checked inline and a new one starts with
the next chunk: nothing is lost, only the overlap.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from carchain.core import block as core_block
from carchain.core.transactions import Envelope, compute_tx_hash
from carchain.errors import CarchainError

Verdict = Envelope | CarchainError

STATELESS_CACHE_SIZE = 200_000
POOL_WORKERS = max(1, min(4, (os.cpu_count() or 1) - 1))  # the caller's thread keeps a core
CHUNK = 128  # transactions per worker task: ~8 ms of verifying, far above the hand-off
MIN_POOLED = 32  # a smaller batch is checked inline: the worker would only add latency
PASSED, FAILED = 1, 0


def compute_verdict(raw: bytes, chain_id: str) -> Verdict:
    """Return the envelope if ``raw`` passes the stateless checks, else the error."""
    try:
        return core_block.validate_stateless(raw, chain_id)
    except CarchainError as exc:
        return exc


def compute_verdicts(raws: Sequence[bytes], chain_id: str) -> list[Verdict]:
    """Return each transaction's verdict, in order."""
    return [compute_verdict(raw, chain_id) for raw in raws]


def check_passes(raws: Sequence[bytes], chain_id: str) -> bytes:
    """Return one byte per transaction: ``PASSED`` if it passes every stateless check
    (what the worker process runs)."""
    return bytes(
        PASSED if isinstance(compute_verdict(raw, chain_id), Envelope) else FAILED for raw in raws
    )


def compute_verdict_after(raw: bytes, chain_id: str, passed: bool) -> Verdict:
    """Return ``raw``'s verdict given the worker's bit: a passing transaction is decoded
    and checked but for its signature, a failing one checked whole (its exact error)."""
    if not passed:
        return compute_verdict(raw, chain_id)
    try:
        return core_block.validate_envelope_form(raw, chain_id)
    except CarchainError as exc:
        return exc


@dataclass(frozen=True, slots=True)
class VerdictBatch:
    """Stateless checks under way: ``positions`` (into the caller's list) of the
    transactions not cached when the batch started, their bytes, hashes and the
    chunks' futures (in order; each resolves to one ``PASSED``/``FAILED`` byte per
    transaction of its chunk)."""

    chain_id: str
    positions: list[int]
    raws: list[bytes]
    hashes: list[bytes]
    chunks: list[Future[bytes]]

    def iterate(self) -> Iterator[tuple[int, bytes, bytes, Verdict]]:
        """Yield ``(position, raw, hash, verdict)`` in order, waiting for each chunk."""
        at = 0
        for chunk in self.chunks:
            flags = _chunk_flags(chunk)
            size = len(flags) if flags is not None else min(CHUNK, len(self.raws) - at)
            for k in range(size):
                raw = self.raws[at]
                if flags is None:
                    verdict = compute_verdict(raw, self.chain_id)
                else:
                    verdict = compute_verdict_after(raw, self.chain_id, flags[k] == PASSED)
                yield self.positions[at], raw, self.hashes[at], verdict
                at += 1


def _chunk_flags(chunk: Future[bytes]) -> bytes | None:
    """Return the worker's answer for a chunk, or ``None`` if the worker failed it."""
    try:
        return chunk.result()
    except Exception:  # a dead or broken worker: the chunk is checked inline
        return None


class StatelessCache:
    """Verdicts by transaction hash (``compute_tx_hash`` of the bytes, as every caller
    computes it: the hash names the bytes, so no entry keeps them; an invalid upload of
    64 KiB then costs the cache a small error, not its bytes)."""

    def __init__(self, size: int = STATELESS_CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, Verdict] = OrderedDict()
        self._pool: ProcessPoolExecutor | None = None

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
        """Start the stateless checks of the transactions of ``raws`` not cached yet: in
        the worker for a batch of at least ``MIN_POOLED``, else inline."""
        hashes = [compute_tx_hash(raw) for raw in raws]
        todo = [i for i, h in enumerate(hashes) if not self.is_cached(raws[i], h)]
        batch = VerdictBatch(chain_id, todo, [raws[i] for i in todo], [hashes[i] for i in todo], [])
        for at in range(0, len(todo), CHUNK):
            batch.chunks.append(self._submit(batch.raws[at : at + CHUNK], chain_id, len(todo)))
        return batch

    def collect(self, batch: VerdictBatch) -> Iterator[int]:
        """Cache each verdict of ``batch`` as it arrives; yield its position after it."""
        for position, raw, tx_hash, verdict in batch.iterate():
            self.store(raw, tx_hash, verdict)
            yield position

    def warm(self) -> Future[bytes]:
        """Start the worker processes now (they start with the first pooled batch
        otherwise, which then waits the fraction of a second a process takes to start);
        the future resolves once a worker answers."""
        return self._ensure_pool().submit(check_passes, [], "")

    def close(self) -> None:
        """Stop the worker processes (a later batch starts new ones)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _submit(self, raws: list[bytes], chain_id: str, total: int) -> Future[bytes]:
        if total < MIN_POOLED:
            done: Future[bytes] = Future()
            done.set_result(check_passes(raws, chain_id))
            return done
        try:
            return self._ensure_pool().submit(check_passes, raws, chain_id)
        except RuntimeError:  # the pool broke (a worker died): once more on a new one
            self._discard_pool()
        try:
            return self._ensure_pool().submit(check_passes, raws, chain_id)
        except RuntimeError as exc:  # not even a new worker starts: the chunk goes inline
            self._discard_pool()
            failed: Future[bytes] = Future()
            failed.set_exception(exc)
            return failed

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                POOL_WORKERS,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=start_worker,
            )
        return self._pool

    def _discard_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def start_worker() -> None:
    """Set up a worker process: Ctrl-C is the parent's to handle, and the worker exits
    as soon as its parent does (even when the parent was killed with SIGKILL)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(0)
