"""The chain's metrics, recorded by the engine's application (both engines share it)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seconds: CheckTx and Commit are fast (sub-millisecond to tens of ms); a block can take longer.
FAST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
BLOCK_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
INTERVAL_BUCKETS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
INVALID_TYPE = "invalid"  # a transaction that does not decode has no type
OK_RESULT = "ok"
FAILED_RESULT = "failed"  # a failed result without an error code


class ChainMetrics:
    """Height, block interval, transactions by type and result, mempool size and the
    CheckTx / FinalizeBlock / Commit latencies of one application, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.height = Gauge("carchain_chain_height", "Last committed block height.", registry=r)
        self.mempool_size = Gauge(
            "carchain_mempool_size", "Transactions waiting for a block.", registry=r
        )
        self.block_interval = Histogram(
            "carchain_block_interval_seconds",
            "Block time difference between consecutive committed blocks.",
            buckets=INTERVAL_BUCKETS,
            registry=r,
        )
        self.txs = Counter(
            "carchain_txs",
            "Transactions executed in committed blocks, by type and result (ok or error code).",
            ["type", "result"],
            registry=r,
        )
        self.check_tx = Histogram(
            "carchain_check_tx_seconds", "CheckTx latency.", buckets=FAST_BUCKETS, registry=r
        )
        self.finalize_block = Histogram(
            "carchain_finalize_block_seconds",
            "FinalizeBlock (block execution) latency.",
            buckets=BLOCK_BUCKETS,
            registry=r,
        )
        self.commit = Histogram(
            "carchain_commit_seconds", "Commit (persisting a block) latency.",
            buckets=BLOCK_BUCKETS, registry=r,
        )  # fmt: skip
        self._last_block_time_ms: int | None = None

    def record_tx(self, tx_type: str, error_code: str, count: int = 1) -> None:
        """Count ``count`` executed transactions of one type and result (``error_code``
        empty: they succeeded)."""
        self.txs.labels(type=tx_type or INVALID_TYPE, result=error_code or OK_RESULT).inc(count)

    def record_commit(self, height: int, time_ms: int) -> None:
        """Record a committed block: the height and the interval since the previous block."""
        self.height.set(height)
        last = self._last_block_time_ms
        if last is not None and time_ms >= last:
            self.block_interval.observe((time_ms - last) / 1000)
        self._last_block_time_ms = time_ms
