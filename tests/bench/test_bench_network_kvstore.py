"""The network benchmark's kvstore comparison: transactions the kvstore accepts, the
validators its genesis needs, the rates and ratios it reports, the CPU profile table."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from carchain.engine.abci.profile import PHASES
from carchain.network.layout import NetworkLayout, NodeLayout

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_network.py"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_network", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_network", module)
    spec.loader.exec_module(module)
    return module


def _kvstore_accepts(tx: bytes) -> bool:
    """CometBFT v0.38 kvstore's ``isValidTx`` for the ``=`` form."""
    return (
        tx.count(b"=") == 1 and b":" not in tx and not tx.startswith(b"=") and not tx.endswith(b"=")
    )


def test_kv_transactions_are_valid_distinct_and_of_the_asked_size(bench: ModuleType) -> None:
    first = bench.make_kv_txs(3, 1, 100, 319)
    later = bench.make_kv_txs(3, 101, 100, 319)
    again = bench.make_kv_txs(3, 1, 100, 319)  # a new salt: never the same keys twice
    other = bench.make_kv_txs(4, 1, 100, 319)
    every = first + later + again + other
    assert all(_kvstore_accepts(t) and len(t) == 319 for t in every)
    keys = [t.split(b"=")[0] for t in every]
    assert len(set(keys)) == len(keys) == 400
    assert all(len(t) > 20 and _kvstore_accepts(t) for t in bench.make_kv_txs(0, 1, 3, 5))


def test_genesis_validators_are_the_nodes_keys(bench: ModuleType, tmp_path: Path) -> None:
    keys = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    nodes = [
        NodeLayout(f"node{i}", i, 1, 2, 3, 4, validator_key=k.hex()) for i, k in enumerate(keys)
    ]
    vals = bench.compute_genesis_validators(NetworkLayout(tmp_path, "c", nodes))
    assert [base64.b64decode(v["pub_key"]["value"]) for v in vals] == keys
    assert [v["address"] for v in vals] == [
        hashlib.sha256(k).digest()[:20].hex().upper() for k in keys
    ]
    assert {v["pub_key"]["type"] for v in vals} == {"tendermint/PubKeyEd25519"}
    assert {v["power"] for v in vals} == {"10"}


def _run(bench: ModuleType, rate: int, committed: int, p99: float) -> object:
    lat = [0.1] * 98 + [p99] * 2  # the 99th percentile of 100 latencies is the last two
    return bench.Run(rate, committed, committed, 0, 10.0, lat, [committed])


def test_rates_ratios_and_saturation(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    carchain = bench.AppResult("carchain", [_run(bench, 400, 4000, 1.5),
                                            _run(bench, 800, 6000, 2.5)])  # fmt: skip
    kvstore = bench.AppResult("kvstore", [_run(bench, 400, 4000, 0.5), _run(bench, 800, 8000, 1.9),
                                          _run(bench, 1600, 12000, 2.0)])  # fmt: skip
    assert (carchain.rate_at_p99, carchain.saturation) == (400, 600)  # 600 tx/s had p99 2.5 s
    assert (kvstore.rate_at_p99, kvstore.saturation) == (800, 1200)  # p99 of 2.0 s is not < 2 s
    assert bench.AppResult("none").rate_at_p99 == bench.AppResult("none").saturation == 0
    bench.print_summary([carchain, kvstore])
    ratio = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ratio")]
    assert ratio and ratio[0].split()[1:3] == ["0.50", "0.50"]
    assert bench.format_ratio(1.0, 0.0) == "-"


def test_profile_table_shares_and_the_rest(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    phases = {p: {"cpu_s": 0.0, "requests": 0, "txs": 0} for p in PHASES}
    phases["check_tx"] = {"cpu_s": 3.0, "requests": 100, "txs": 0}
    phases["finalize_block"] = {"cpu_s": 1.0, "requests": 5, "txs": 100}
    profile = {"process_cpu_s": 5.0, "phases": phases}
    result = bench.AppResult("carchain", [_run(bench, 100, 100, 0.5)], profiles=[profile, profile])
    bench.print_profile(result)
    rows = {r.split()[0]: r.split() for r in capsys.readouterr().out.splitlines() if r}
    assert rows["check_tx"][1:5] == ["6.00", "60.0%", "200", "0"]
    assert rows["check_tx"][5] == "60000"  # us per committed tx: 6 s over 100 txs
    assert rows["finalize_block"][1:5] == ["2.00", "20.0%", "10", "200"]
    assert rows["rest"][3:5] == ["2.00", "20.0%"]  # "rest of process": 10 s - 8 s


def test_no_profile_prints_nothing(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    bench.print_profile(bench.AppResult("kvstore"))
    assert capsys.readouterr().out == ""


def test_missing_abci_cli_exits_with_the_setup_hint(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(bench.ABCI_CLI_ENV, str(tmp_path / "abci-cli"))
    with pytest.raises(SystemExit, match=re.escape("make setup-network")):
        bench.find_abci_cli()


def test_repeated_rounds_take_each_applications_best(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    rounds = [
        bench.AppResult("carchain", [_run(bench, 400, 3000, 2.5), _run(bench, 800, 5000, 3.0)]),
        bench.AppResult("kvstore", [_run(bench, 400, 4000, 0.5), _run(bench, 800, 8000, 1.0)]),
        bench.AppResult("carchain", [_run(bench, 400, 4000, 1.0), _run(bench, 800, 4500, 3.0)]),
        bench.AppResult("kvstore", [_run(bench, 400, 4000, 0.5), _run(bench, 800, 6000, 2.5)]),
    ]
    best = bench.compute_best(rounds)
    assert best == {"carchain": (400, 500), "kvstore": (800, 800)}
    bench.print_summary(rounds)
    out = capsys.readouterr().out.splitlines()
    assert sum(1 for line in out if line.startswith(("carchain", "kvstore"))) == 4
    ratio = [line for line in out if line.startswith("ratio")]
    assert ratio[0].split()[1:3] == ["0.50", "0.62"]
