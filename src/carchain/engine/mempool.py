"""The solo engine's mempool: accepted transactions in arrival order."""

from __future__ import annotations

from collections import OrderedDict

from carchain.errors import DuplicateTransaction, MempoolFull


class Mempool:
    """Transactions that passed check_tx and wait for a block, bounded in count and bytes."""

    def __init__(self, max_txs: int = 50_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self._txs: OrderedDict[bytes, bytes] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._txs

    def validate_room(self, tx_hash: bytes, size: int) -> None:
        """Raise unless a transaction of ``size`` bytes may be added."""
        if tx_hash in self._txs:
            raise DuplicateTransaction("transaction already in the mempool")
        if len(self._txs) >= self.max_txs or self._bytes + size > self.max_bytes:
            raise MempoolFull("mempool is full; retry later", size=len(self._txs))

    def add(self, tx_hash: bytes, raw: bytes) -> None:
        """Append an accepted transaction."""
        self._txs[tx_hash] = raw
        self._bytes += len(raw)

    def peek(self, max_txs: int, max_bytes: int) -> list[tuple[bytes, bytes]]:
        """Return up to ``max_txs`` oldest transactions within ``max_bytes``."""
        out: list[tuple[bytes, bytes]] = []
        total = 0
        for h, raw in self._txs.items():
            if len(out) >= max_txs or total + len(raw) > max_bytes:
                break
            out.append((h, raw))
            total += len(raw)
        return out

    def remove(self, tx_hashes: list[bytes]) -> None:
        """Drop transactions (included in a block, or no longer valid)."""
        for h in tx_hashes:
            raw = self._txs.pop(h, None)
            if raw is not None:
                self._bytes -= len(raw)

    def items(self) -> list[tuple[bytes, bytes]]:
        """Return every waiting transaction, oldest first."""
        return list(self._txs.items())
