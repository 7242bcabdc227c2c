"""Both backends answer "where is this transaction" by one rule (``compute_tx_status``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from carchain.core.types import TxResult
from carchain.errors import CarchainError
from carchain.node.backend import compute_tx_status

TX = b"\x01" * 32
OK = TxResult(0, "", "", [])


@dataclass
class _Block:
    txs: list[bytes] = field(default_factory=list)
    results: list[TxResult] = field(default_factory=list)


def test_committed_transaction_carries_its_result_and_bytes() -> None:
    block = _Block([b"a", b"b"], [TxResult(5, "not_found", "x", []), OK])
    status = compute_tx_status(TX, (7, 1), block, pending=True)
    assert (status.state, status.height, status.index) == ("committed", 7, 1)
    assert status.result == OK and status.tx == b"b"


def test_uncommitted_transaction_is_pending_or_unknown() -> None:
    assert compute_tx_status(TX, None, None, pending=True).state == "pending"
    assert compute_tx_status(TX, None, None, pending=False).state == "unknown"


def test_invalid_index_pointing_at_a_missing_block_raises() -> None:
    with pytest.raises(CarchainError, match="missing block"):
        compute_tx_status(TX, (7, 0), None, pending=False)
