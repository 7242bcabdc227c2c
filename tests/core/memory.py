"""The core under test without an engine: ``process_block`` over a dict-backed view.

``CoreChain`` has the method names of ``tests.conftest.Chain`` (``key``, ``nonce``,
``build``, ``submit``, ``block``, ``include``, ``send``, ``reject``, ``read``), so a
core rule test switches fixture only: importing ``core_chain`` (the fixture named
``chain``) into a test module overrides the SQLite + SoloEngine ``chain`` of
tests/conftest.py for that module. ``submit`` is the core's own gate
(``validate_stateless``, then ``validate_admission`` against committed state plus
what was admitted since); ``block`` runs ``process_block`` over the pending
transactions with a ``BlockContext`` it advances, as an engine would. ``app``,
``engine`` and ``state`` alias the chain's read surface so that reads written
against ``Chain`` (``chain.app.state``, ``chain.engine.height``) work unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

from carchain.core import accounts
from carchain.core import block as core_block
from carchain.core.genesis import Genesis, apply_genesis
from carchain.core.state import WriteBuffer
from carchain.core.transactions import Envelope, compute_tx_hash
from carchain.core.types import OK_RESULT_CODE, BlockContext, BlockResult, TxResult
from carchain.crypto.signing import SigningKey
from carchain.errors import CarchainError
from tests.conftest import CHAIN_ID, FOUNDERS, GENESIS_TIME_MS, SigningChain

PROPOSER = b"\x00" * 20  # the solo engine's default proposer address


class MemoryView:
    """A dict-backed ``KVView``: the committed state of a ``CoreChain``."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, bytes], bytes] = {}
        self.height = 0

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the value under ``key`` in ``store`` or ``None``."""
        return self.data.get((store, key))

    def set(self, store: str, key: bytes, value: bytes) -> None:
        """Store a non-empty ``value`` under ``key``."""
        assert value, "the core never stores an empty value"
        self.data[(store, key)] = value

    def delete(self, store: str, key: bytes) -> None:
        """Remove ``key`` from ``store``."""
        self.data.pop((store, key), None)

    def snapshot(self, skip: tuple[str, ...] = ()) -> dict[tuple[str, bytes], bytes]:
        """Return every (store, key) -> value outside the ``skip`` stores."""
        return {k: v for k, v in self.data.items() if k[0] not in skip}


@dataclass
class Admission:
    """The core's verdict on a submitted transaction (the fields of ``CheckTxResult``)."""

    code: int
    error_code: str
    log: str
    tx_hash: bytes

    @property
    def ok(self) -> bool:
        """Return whether the transaction was admitted."""
        return self.code == OK_RESULT_CODE


@dataclass
class CoreChain(SigningChain):
    """A chain of ``process_block`` calls over a ``MemoryView``: signs, admits, reads back."""

    state: MemoryView
    chain_id: str = CHAIN_ID
    keys: dict[str, SigningKey] = field(default_factory=dict)
    now_ms: int = GENESIS_TIME_MS
    pending: list[bytes] = field(default_factory=list)
    last_check: Admission | None = None
    finalized: list[BlockResult] = field(default_factory=list)
    _last: dict[bytes, int] = field(default_factory=dict)
    _check: WriteBuffer | None = None

    @property
    def app(self) -> CoreChain:
        """The chain itself: ``chain.app.state`` reads committed state as on ``Chain``."""
        return self

    @property
    def engine(self) -> CoreChain:
        """The chain itself: ``chain.engine.height`` is the last block's height."""
        return self

    @property
    def height(self) -> int:
        """Return the height of the last processed block."""
        return self.state.height

    def nonce(self, key: SigningKey) -> int:
        """Return the signer's last committed nonce."""
        return accounts.get_nonce(self.state, key.public_key)

    def submit(self, raw: bytes) -> Admission:
        """Admit ``raw`` for the next block (stateless gate, then admission) or refuse it."""
        tx_hash = compute_tx_hash(raw)
        if self._check is None:
            self._check = WriteBuffer(self.state)
        try:
            env = core_block.validate_stateless(raw, self.chain_id)
            core_block.validate_admission(self._check, env)
        except CarchainError as exc:
            return Admission(exc.abci_code, exc.code, exc.message, tx_hash)
        core_block.process_admission(self._check, env)
        self.pending.append(raw)
        return Admission(OK_RESULT_CODE, "", "", tx_hash)

    def block(self) -> list[TxResult]:
        """Process the admitted transactions as the next block; return their results."""
        self.now_ms += 1000
        ctx = BlockContext(self.chain_id, self.state.height + 1, self.now_ms, PROPOSER)
        items: list[Envelope | CarchainError] = []
        for raw in self.pending:
            try:
                items.append(core_block.validate_stateless(raw, self.chain_id))
            except CarchainError as exc:
                items.append(exc)
        result = core_block.process_block(self.state, ctx, items)
        self.state.height = ctx.height
        self.pending, self._check = [], None
        self.finalized.append(result)
        return list(result.tx_results)

    def include(self, *raws: bytes) -> list[TxResult]:
        """Force ``raws`` into the next block, bypassing admission (a byzantine proposer)."""
        self.pending.extend(raws)
        return self.block()

    def send(self, signer: SigningKey | str, body: msgspec.Struct) -> TxResult:
        """Sign, admit (must be accepted) and process; return the result (must be OK)."""
        check = self.submit(self.build(signer, body))
        assert check.ok, (check.error_code, check.log)
        results = self.block()
        assert len(results) == 1
        assert results[0].code == 0, (results[0].error_code, results[0].log)
        return results[0]

    def reject(self, signer: SigningKey | str, body: msgspec.Struct) -> str:
        """Assert ``body`` fails, leaving every store but the signer's nonce unchanged.

        As ``Chain.reject``: a transaction refused at admission is forced into a
        block anyway and must fail there with the same code. Return its error code.
        """
        raw = self.build(signer, body)
        before = self.state.snapshot(skip=("accounts",))
        check = self.last_check = self.submit(raw)
        results = self.block() if check.ok else self.include(raw)
        assert len(results) == 1
        assert results[0].code != 0, "a transaction that must fail succeeded"
        if not check.ok:
            assert results[0].error_code == check.error_code, (results[0].log, check.log)
            assert results[0].code == check.code
        assert self.state.snapshot(skip=("accounts",)) == before
        key = self.key(signer) if isinstance(signer, str) else signer
        self._last.pop(key.public_key, None)
        return results[0].error_code

    def read(self, store: str, key: bytes, record_type: type[Any]) -> Any:
        """Return the decoded committed record (``None`` if absent)."""
        raw = self.state.get(store, key)
        return None if raw is None else msgspec.msgpack.decode(raw, type=record_type)


def open_core_chain(genesis: Genesis) -> CoreChain:
    """Return a ``CoreChain`` at height 0 with ``genesis`` applied."""
    view = MemoryView()
    apply_genesis(view, genesis)
    return CoreChain(view, genesis.chain_id, now_ms=genesis.genesis_time_ms)


@pytest.fixture(name="chain")
def core_chain(genesis: Genesis) -> Iterator[CoreChain]:
    """A fresh in-memory chain at height 0 with the founders (overrides the solo chain)."""
    c = open_core_chain(genesis)
    for mid, *_ in FOUNDERS:
        c.key(mid)
    yield c
