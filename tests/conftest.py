"""Shared fixtures: a founders' genesis, an Application on a temporary database,
a SoloEngine over it, and a ``Chain`` helper that signs with ``sdk.transactions``.

Keys are derived from fixed seeds so that two chains built from the same
fixtures are byte-for-byte identical (the determinism tests rely on it).
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import logging
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from carchain.core import accounts
from carchain.core.genesis import Genesis, GenesisMember
from carchain.core.governance import GovernanceParams
from carchain.core.transactions import compute_tx_hash
from carchain.core.types import BlockContext, TxResult
from carchain.crypto.signing import SigningKey
from carchain.engine.application import Application, CheckTxResult, FinalizeResult
from carchain.engine.solo import SoloEngine
from carchain.sdk.transactions import build_tx
from carchain.sdk.vin import compute_vin_with_check_digit
from carchain.storage.database import Database
from tests.objectstore import env_credentials, failing_s3, objectstore

__all__ = ["env_credentials", "failing_s3", "objectstore"]  # fixtures for every test folder

CHAIN_ID = "carchain-test"
GENESIS_TIME_MS = 1_700_000_000_000
TTL_BLOCKS = 5

# (member id, name, roles, validator power)
FOUNDERS: tuple[tuple[str, str, list[str], int], ...] = (
    ("saic", "SAIC Motor", ["oem"], 10),
    ("geely", "Geely Auto", ["oem"], 10),
    ("bosch", "Bosch China", ["supplier"], 0),
    ("miit", "Ministry of Industry and IT", ["regulator"], 0),
    ("police", "Traffic Police", ["law_enforcement"], 0),
)


def seeded_key(label: str) -> SigningKey:
    """Return a deterministic Ed25519 key for ``label``."""
    return SigningKey.from_seed(hashlib.sha256(b"carchain-test/" + label.encode()).digest())


_VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
VIN_SALT = b"s" * 32


def make_vin(label: str) -> str:
    """Return a valid ISO 3779 VIN (Chinese WMI, correct check digit) derived from ``label``."""
    digest = hashlib.sha256(label.encode()).digest()
    serial = "".join(_VIN_CHARS[b % len(_VIN_CHARS)] for b in digest[:8])
    return compute_vin_with_check_digit("LSVAX4180" + serial)


def validator_key(member_id: str) -> bytes:
    """Return the (deterministic) validator public key of a founder."""
    return seeded_key("validator/" + member_id).public_key


def make_genesis(
    chain_id: str = CHAIN_ID,
    founders: tuple[tuple[str, str, list[str], int], ...] = FOUNDERS,
    threshold: tuple[int, int] = (2, 3),
    ttl: int = TTL_BLOCKS,
) -> Genesis:
    """Return the test genesis: the founders with seeded keys, 2/3 threshold."""
    members = [
        GenesisMember(
            member_id=mid,
            name=name,
            roles=roles,
            public_key=seeded_key(mid).public_key.hex(),
            validator_key=validator_key(mid).hex() if power else "",
            power=power,
        )
        for mid, name, roles, power in founders
    ]
    return Genesis(chain_id, GENESIS_TIME_MS, GovernanceParams(*threshold, ttl), members)


def snapshot(db: Database, skip: tuple[str, ...] = ()) -> dict[tuple[str, bytes], bytes]:
    """Return every committed (store, key) -> value straight from SQLite."""
    rows = db.conn.execute("SELECT store, key, value FROM kv").fetchall()
    return {(s, bytes(k)): bytes(v) for s, k, v in rows if s not in skip}


class SigningChain(abc.ABC):
    """What both test chains share: seeded keys, and transactions signed with the next nonce.

    A subclass has ``keys`` and ``_last`` (the highest nonce built per key) and
    reads committed nonces with ``nonce``.
    """

    keys: dict[str, SigningKey]
    _last: dict[bytes, int]

    @abc.abstractmethod
    def nonce(self, key: SigningKey) -> int:
        """Return the signer's last committed nonce."""

    def key(self, name: str) -> SigningKey:
        """Return (creating if needed) the seeded key called ``name``."""
        if name not in self.keys:
            self.keys[name] = seeded_key(name)
        return self.keys[name]

    def build(
        self,
        signer: SigningKey | str,
        body: msgspec.Struct,
        nonce: int | None = None,
        chain_id: str = CHAIN_ID,
    ) -> bytes:
        """Sign ``body`` with ``build_tx``; without ``nonce``, use the signer's next one."""
        key = self.key(signer) if isinstance(signer, str) else signer
        if nonce is None:
            pk = key.public_key
            nonce = max(self._last.get(pk, 0), self.nonce(key)) + 1
            self._last[pk] = nonce
        return build_tx(chain_id, key, nonce, body)


@dataclass
class Chain(SigningChain):
    """A solo chain under test: signs, submits, forces into blocks, reads back."""

    app: Application
    engine: SoloEngine
    db: Database
    path: Path
    keys: dict[str, SigningKey] = field(default_factory=dict)
    now_ms: int = GENESIS_TIME_MS
    _last: dict[bytes, int] = field(default_factory=dict)
    last_check: CheckTxResult | None = None
    finalized: list[FinalizeResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Record every FinalizeResult (validator updates are not kept in blocks).
        finalize = self.app.finalize_block

        def spy(ctx: BlockContext, txs: list[bytes]) -> FinalizeResult:
            fin = finalize(ctx, txs)
            self.finalized.append(fin)
            return fin

        self.app.finalize_block = spy  # type: ignore[method-assign]

    def nonce(self, key: SigningKey) -> int:
        """Return the signer's last committed nonce."""
        return accounts.get_nonce(self.app.state, key.public_key)

    def submit(self, raw: bytes) -> CheckTxResult:
        """Offer ``raw`` to the engine's mempool (check_tx)."""
        return self.engine.submit(raw)

    def block(self) -> list[TxResult]:
        """Produce one block from the mempool; return its results."""
        self.now_ms += 1000
        blk = self.engine.produce_block(self.now_ms)
        return [] if blk is None else list(blk.results)

    def include(self, *raws: bytes) -> list[TxResult]:
        """Force ``raws`` into the next block, bypassing check_tx (a byzantine proposer)."""
        for raw in raws:
            self.engine.mempool.add(compute_tx_hash(raw), raw)
        return self.block()

    def send(self, signer: SigningKey | str, body: msgspec.Struct) -> TxResult:
        """Sign, submit (must be accepted) and commit; return the result (must be OK)."""
        raw = self.build(signer, body)
        check = self.submit(raw)
        assert check.ok, (check.error_code, check.log)
        results = self.block()
        assert len(results) == 1
        assert results[0].code == 0, (results[0].error_code, results[0].log)
        return results[0]

    def reject(self, signer: SigningKey | str, body: msgspec.Struct) -> str:
        """Assert ``body`` fails, leaving every store but the signer's nonce unchanged.

        check_tx only admits (nonce, may this signer send this type at all); if it
        refuses, the transaction is forced into a block anyway (a byzantine
        proposer) and must fail there with the same code. Return the block's error
        code; ``last_check`` keeps the check_tx verdict.
        """
        raw = self.build(signer, body)
        before = snapshot(self.db, skip=("accounts",))
        check = self.submit(raw)
        self.last_check = check
        if check.ok:
            results = self.block()
        else:
            assert check.tx_hash not in self.engine.mempool
            results = self.include(raw)
        assert len(results) == 1
        assert results[0].code != 0, "a transaction that must fail succeeded"
        if not check.ok:
            assert results[0].error_code == check.error_code, (results[0].log, check.log)
            assert results[0].code == check.code
        assert snapshot(self.db, skip=("accounts",)) == before
        # A transaction that fails admission in the block consumes no nonce.
        key = self.key(signer) if isinstance(signer, str) else signer
        self._last.pop(key.public_key, None)
        return results[0].error_code

    def read(self, store: str, key: bytes, record_type: type[Any]) -> Any:
        """Return the decoded committed record (``None`` if absent)."""
        raw = self.app.state.get(store, key)
        return None if raw is None else msgspec.msgpack.decode(raw, type=record_type)


def open_chain(path: Path, genesis: Genesis | None = None) -> Chain:
    """Open (initialising if new) an Application + SoloEngine on ``path``."""
    db = Database(path)
    app = Application(db)
    if not app.is_initialised():
        app.init_chain(genesis or make_genesis())
    return Chain(app, SoloEngine(app), db, path)


@pytest.fixture
def genesis() -> Genesis:
    """The founders' genesis."""
    return make_genesis()


@pytest.fixture
def chain(tmp_path: Path, genesis: Genesis) -> Iterator[Chain]:
    """A fresh solo chain at height 0 with the founders."""
    c = open_chain(tmp_path / "state.db", genesis)
    for mid, *_ in FOUNDERS:
        c.key(mid)
    yield c
    c.db.close()


@pytest.fixture
def app(chain: Chain) -> Application:
    """The Application of the test chain."""
    return chain.app


@pytest.fixture
def engine(chain: Chain) -> SoloEngine:
    """The SoloEngine of the test chain."""
    return chain.engine


class Processes:
    """Processes a test started; each is killed by pid when the test ends."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        """Start a process in its own session and remember it."""
        proc = subprocess.Popen(args, start_new_session=True, **kw)
        self.procs.append(proc)
        return proc

    def kill_all(self) -> None:
        """SIGKILL every remembered process by pid and reap it."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Start subprocesses through this; all are killed by pid in the finalizer."""
    p = Processes()
    try:
        yield p
    finally:
        p.kill_all()


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undo what a command run in-process (``node start``, ``gateway start`` through
    CliRunner) does to the process's logging: its handler and the root level would
    otherwise print request logs into later tests' captured output."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
