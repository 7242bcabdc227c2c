"""The application records the chain metrics both engines expose: CheckTx, FinalizeBlock
and Commit latencies, transactions by type and result, height and block interval."""

from __future__ import annotations

from carchain.core.transactions import decode_envelope
from carchain.telemetry.chain import ChainMetrics
from tests.conftest import Chain
from tests.core.test_vehicles import register_body


def sample(metrics: ChainMetrics, name: str, **labels: str) -> float:
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


def test_engine_records_latencies_txs_height_and_interval(chain: Chain) -> None:
    m = chain.app.metrics
    chain.send("saic", register_body("saic:e1"))
    assert sample(m, "carchain_check_tx_seconds_count") == 1
    assert sample(m, "carchain_finalize_block_seconds_count") == 1
    assert sample(m, "carchain_commit_seconds_count") == 1
    assert sample(m, "carchain_txs_total", type="vehicle.register", result="ok") == 1
    assert sample(m, "carchain_chain_height") == chain.app.get_height() == 1
    assert sample(m, "carchain_block_interval_seconds_count") == 0  # one block: no interval
    error = chain.reject("saic", register_body("saic:e1"))  # forced into a block, fails
    assert sample(m, "carchain_txs_total", type="vehicle.register", result=error) == 1
    assert sample(m, "carchain_block_interval_seconds_count") == 1
    assert sample(m, "carchain_block_interval_seconds_sum") == 1.0  # the test clock: 1 s a block
    assert sample(m, "carchain_chain_height") == 2


def test_undecodable_tx_in_a_block_counts_as_invalid(chain: Chain) -> None:
    results = chain.include(b"\x00not a transaction")
    assert results[0].code != 0
    m = chain.app.metrics
    assert sample(m, "carchain_txs_total", type="invalid", result=results[0].error_code) == 1
    assert sample(m, "carchain_check_tx_seconds_count") == 0  # it never went through CheckTx


def test_each_application_has_its_own_registry(chain: Chain) -> None:
    other = ChainMetrics()
    assert other.registry is not chain.app.metrics.registry
    chain.send("saic", register_body("saic:e2"))
    assert sample(other, "carchain_txs_total", type="vehicle.register", result="ok") == 0


def test_a_block_counts_each_type_and_result_once_per_transaction(chain: Chain) -> None:
    first = chain.build("saic", register_body("saic:b1"))
    n = decode_envelope(first).nonce
    raws = [first] + [
        chain.build("saic", register_body(f"saic:b{i + 1}"), nonce=n + i) for i in (1, 2)
    ]
    raws.append(chain.build("saic", register_body("saic:b1"), nonce=n + 3))  # id taken: fails
    results = chain.include(*raws)
    assert [r.code == 0 for r in results] == [True, True, True, False]
    m = chain.app.metrics
    assert sample(m, "carchain_txs_total", type="vehicle.register", result="ok") == 3
    failed = results[3].error_code
    assert sample(m, "carchain_txs_total", type="vehicle.register", result=failed) == 1
