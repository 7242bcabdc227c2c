"""Signatures of a batch checked in the worker process (issue 14): the same verdicts,
blocks and app hashes as checking them one by one, and a cache that never hands a
transaction another one's verdict."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import msgspec
import pytest

from carchain.core.transactions import Envelope, compute_tx_hash
from carchain.engine import stateless
from carchain.engine.stateless import StatelessCache
from carchain.errors import CarchainError, InvalidNonce, InvalidSignature
from tests.conftest import CHAIN_ID, Chain, open_chain
from tests.core.test_vehicles import register_body

BAD = 150  # the position of the transaction whose signature is broken


def break_signature(raw: bytes) -> bytes:
    """Return ``raw`` with one bit of its signature (the envelope's last field) flipped."""
    fields = msgspec.msgpack.decode(raw)
    fields[-1] = bytes([fields[-1][0] ^ 1]) + fields[-1][1:]
    return msgspec.msgpack.encode(fields)


def make_batch(chain: Chain, count: int = 300) -> list[bytes]:
    """Return ``count`` registrations from two OEMs (consecutive nonces each), the one at
    ``BAD`` with a broken signature."""
    raws = [
        chain.build(oem, register_body(f"{oem}:{i}"))
        for i in range(count // 2)
        for oem in ("saic", "geely")
    ]
    raws[BAD] = break_signature(raws[BAD])
    return raws


def test_pooled_batch_is_refused_and_committed_exactly_as_serially(tmp_path: Path) -> None:
    pooled, serial = open_chain(tmp_path / "pooled.db"), open_chain(tmp_path / "serial.db")
    try:
        raws = make_batch(pooled)
        assert len(raws) > 2 * stateless.CHUNK  # several chunks on the pool
        got = pooled.engine.submit_many(raws)
        assert pooled.app._stateless._pool is not None  # the pool did the checks
        want = [serial.engine.submit(raw) for raw in raws]
        assert got == want
        assert got[BAD].error_code == InvalidSignature.code
        # The broken transaction's signer has a gap from there on: refused on its nonce.
        assert {r.error_code for r in got[BAD + 2 :: 2]} == {InvalidNonce.code}
        assert all(r.ok for r in got[:BAD] + got[BAD + 1 :: 2])
        for c in (pooled, serial):
            while c.engine.produce_block(1_000 + c.engine.height) is not None:
                pass
        assert pooled.app.state.app_hash == serial.app.state.app_hash
        assert pooled.engine.blocks.get_block(1) == serial.engine.blocks.get_block(1)
    finally:
        pooled.app.close_stateless_pool()
        pooled.db.close()
        serial.db.close()


def test_pooled_checks_overlap_a_block(chain: Chain) -> None:
    """A batch started before a block and submitted after it: same verdicts."""
    first = [chain.build("saic", register_body(f"saic:{i}")) for i in range(40)]
    assert all(r.ok for r in chain.engine.submit_many(first))
    later = [chain.build("saic", register_body(f"saic:{i}")) for i in range(40, 120)]
    batch = chain.engine.start_checks(later)
    assert chain.engine.produce_block(1_000) is not None  # executes while workers verify
    assert all(r.ok for r in chain.engine.submit_many(later, batch))
    chain.app.close_stateless_pool()


def test_small_batch_is_checked_inline(chain: Chain) -> None:
    raws = [chain.build("saic", register_body(f"saic:{i}")) for i in range(3)]
    assert all(r.ok for r in chain.engine.submit_many(raws))
    assert chain.app._stateless._pool is None


def test_a_good_transaction_and_its_broken_copy_keep_their_own_verdicts(chain: Chain) -> None:
    good = chain.build("saic", register_body())
    bad = break_signature(good)
    cache = StatelessCache()
    assert isinstance(cache.get_verdict(good, compute_tx_hash(good), CHAIN_ID), Envelope)
    assert isinstance(cache.get_verdict(bad, compute_tx_hash(bad), CHAIN_ID), InvalidSignature)
    assert isinstance(cache.get_verdict(good, compute_tx_hash(good), CHAIN_ID), Envelope)
    # Through the application: neither verdict sticks to the other transaction.
    assert chain.app.validate_stateless_cached(good, compute_tx_hash(good)).signer
    with pytest.raises(InvalidSignature):
        chain.app.validate_stateless_cached(bad, compute_tx_hash(bad))
    assert chain.app.validate_stateless_cached(good, compute_tx_hash(good)).signer


def test_a_cached_refusal_raised_again_does_not_grow_its_traceback(chain: Chain) -> None:
    bad = break_signature(chain.build("saic", register_body()))
    depths = []
    for _ in range(5):
        try:
            chain.app.validate_stateless_cached(bad, compute_tx_hash(bad))
        except InvalidSignature as exc:
            depths.append(len(traceback.extract_tb(exc.__traceback__)))
    assert len(set(depths)) == 1


def test_invalid_pooled_verdict_is_keyed_by_its_own_bytes(chain: Chain) -> None:
    """The pool's batch hashes each transaction itself: a broken copy and the good one
    each get their own entry, whatever order they come in."""
    raws = [chain.build("saic", register_body(f"saic:{i}")) for i in range(stateless.MIN_POOLED)]
    broken = break_signature(raws[0])
    cache = StatelessCache()
    batch = cache.start([broken, *raws], CHAIN_ID)
    assert list(cache.collect(batch)) == list(range(len(raws) + 1))
    assert isinstance(
        cache.get_verdict(broken, compute_tx_hash(broken), CHAIN_ID), InvalidSignature
    )
    assert all(cache.is_cached(r, compute_tx_hash(r)) for r in raws)
    cache.close()


def test_a_dead_worker_costs_the_overlap_not_a_verdict(chain: Chain) -> None:
    """The worker killed mid-run: the batch's chunks are checked inline, with the same
    verdicts (the broken signature still refused), and the next batch gets a new worker."""
    raws = make_batch(chain, 2 * stateless.CHUNK)
    cache = chain.app._stateless
    chain.app.warm_stateless_pool()
    assert cache._pool is not None
    for pid in list(cache._pool._processes):  # the worker processes this test started
        os.kill(pid, signal.SIGKILL)
    got = chain.engine.submit_many(raws)
    assert got[BAD].error_code == InvalidSignature.code
    assert all(r.ok for r in got[:BAD])
    later = [chain.build("saic", register_body(f"saic:late{i}")) for i in range(64)]
    cache._entries.clear()
    assert all(
        r.code == 0 or r.error_code == InvalidNonce.code for r in chain.engine.submit_many(later)
    )
    assert cache._pool is not None and all(p.is_alive() for p in cache._pool._processes.values())
    chain.app.close_stateless_pool()


def test_the_worker_leaves_with_its_parent(tmp_path: Path) -> None:
    """A node killed with SIGKILL leaves no signature worker behind."""
    script = (
        "import sys; from carchain.engine.stateless import StatelessCache\n"
        "c = StatelessCache(); c.warm().result()\n"
        "print(*c._pool._processes, flush=True); sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert workers
    finally:
        proc.kill()
        proc.wait()
    for pid in workers:
        wait_until_gone(pid)


def wait_until_gone(pid: int, timeout_s: float = 10.0) -> None:
    """Wait until ``pid`` has exited (a zombie counts as gone); fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(")")[-1].split()[0] == "Z":
                    return
        except FileNotFoundError:
            return
        threading.Event().wait(0.05)
    os.kill(pid, signal.SIGKILL)
    pytest.fail(f"worker {pid} outlived its parent")


def test_a_chunk_the_worker_failed_is_checked_inline(chain: Chain) -> None:
    raws = make_batch(chain, 2 * stateless.CHUNK)
    failed: Future[bytes] = Future()
    failed.set_exception(BrokenProcessPool("worker died"))
    hashes = [compute_tx_hash(r) for r in raws]
    batch = stateless.VerdictBatch(CHAIN_ID, list(range(len(raws))), raws, hashes, [failed] * 3)
    verdicts = [v for _, _, _, v in batch.iterate()]
    assert len(verdicts) == len(raws)
    assert isinstance(verdicts[BAD], InvalidSignature)
    assert all(isinstance(v, Envelope) for i, v in enumerate(verdicts) if i != BAD)


def test_the_worker_vouches_for_the_signature_only(chain: Chain) -> None:
    """A transaction the worker passed is still checked for everything else here."""
    raw = chain.build("saic", register_body())
    assert isinstance(stateless.compute_verdict_after(raw, CHAIN_ID, True), Envelope)
    wrong_chain = stateless.compute_verdict_after(raw, "another-chain", True)
    assert isinstance(wrong_chain, CarchainError) and not isinstance(wrong_chain, Envelope)
    assert isinstance(
        stateless.compute_verdict_after(break_signature(raw), CHAIN_ID, False), InvalidSignature
    )
