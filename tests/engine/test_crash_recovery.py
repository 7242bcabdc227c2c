"""kill -9 a real node process at varied moments; what was committed survives,
nothing is half-applied, and the app hash is what a replay recomputes."""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from carchain.core.state import STORES
from carchain.engine.application import Application
from carchain.engine.solo import SoloEngine
from carchain.storage.database import Database
from tests.conftest import Processes, open_chain
from tests.crypto.test_merkle import naive_mth
from tests.storage.test_commitment import naive_leaf

SCRIPT = Path(__file__).with_name("crash_node.py")
DEADLINE_S = 60.0


class ChildReader:
    """Reads the child's JSON lines, polling its pipe until a deadline."""

    def __init__(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        assert proc.stdout is not None
        self.proc, self.deadline, self.buf = proc, deadline, b""
        self.fd = proc.stdout.fileno()
        self.sel = selectors.DefaultSelector()
        self.sel.register(proc.stdout, selectors.EVENT_READ)

    def next(self) -> dict[str, Any]:
        while b"\n" not in self.buf:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the child node did not report in time")
            if not self.sel.select(timeout=remaining):
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise AssertionError(f"child exited early ({self.proc.poll()}): {err}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return dict(json.loads(line))

    def close(self) -> None:
        self.sel.close()


def naive_app_hash(db: Database) -> bytes:
    """Recompute the app hash from the kv rows alone (leaf order), no stored nodes."""
    leaves: dict[str, list[bytes]] = {s: [] for s in STORES}
    rows = db.conn.execute("SELECT store, key, value FROM kv ORDER BY store, leaf").fetchall()
    for store, key, value in rows:
        leaves[store].append(naive_leaf(bytes(key), bytes(value)))
    roots = {s: naive_mth(leaves[s]) for s in STORES}
    return naive_mth([naive_leaf(s.encode(), roots[s]) for s in STORES])


def replay(db_path: Path, tmp: Path) -> list[bytes]:
    """Re-execute every stored block on a fresh database; return app hashes per height."""
    src = Database(db_path)
    engine_src = SoloEngine(Application(src))
    fresh = open_chain(tmp / f"replay-{time.monotonic_ns()}.db")
    hashes = []
    for height in range(1, engine_src.height + 1):
        block = engine_src.blocks.get_block(height)
        assert block is not None
        fresh.now_ms = block.header.time_ms - 1000
        results = fresh.include(*block.txs)
        assert results == block.results
        hashes.append(fresh.app.state.app_hash)
    src.close()
    fresh.db.close()
    return hashes


def check_recovered(db_path: Path, committed: dict[str, int], last: dict[str, Any] | None) -> int:
    """Open the killed node's database and check everything; return its height."""
    db = Database(db_path)
    app = Application(db)  # raises StorageCorrupted on a half-applied block
    engine = SoloEngine(app)  # validate_consistency: blocks and state agree
    engine.validate_consistency()
    height = engine.height
    if last is not None:
        # Reported blocks are durable; at most the block in flight may be extra.
        assert height in (last["height"], last["height"] + 1)
        header = engine.blocks.get_header(last["height"])
        assert header is not None and header.app_hash.hex() == last["app_hash"]
    for tx_hash, h in committed.items():
        assert engine.blocks.get_tx_location(bytes.fromhex(tx_hash)) is not None, tx_hash
        assert engine.blocks.get_tx_location(bytes.fromhex(tx_hash))[0] == h  # type: ignore[index]
    header = engine.blocks.get_header(height) if height else None
    if header is not None:
        assert header.app_hash == app.state.app_hash
    assert naive_app_hash(db) == app.state.app_hash
    db.close()
    return height


# (blocks committed first, phase of the next block to kill in); "ready" = at once.
KILL_POINTS = [
    (0, "ready"),
    (1, "finalize"),
    (0, "block"),
    (2, "commit"),
    (1, "block"),
    (3, "after"),
    (0, "commit"),
    (2, "block"),
    (1, "finalize"),
    (0, "block"),
]


@pytest.mark.parametrize("per_block", [5, 80])
def test_kill_minus_nine_at_varied_points(
    tmp_path: Path, processes: Processes, per_block: int
) -> None:
    run_kill_rounds(tmp_path, processes, [str(per_block)], KILL_POINTS)


# A checkpoint after every commit runs on its thread beside the next block: kill
# while one is under way, and between commits with checkpoints still due.
CHECKPOINT_KILL_POINTS = [
    (1, "checkpoint"),
    (2, "checkpoint"),
    (1, "commit"),
    (3, "checkpoint"),
    (2, "after"),
    (1, "checkpoint"),
]


def test_kill_minus_nine_during_wal_checkpoints(tmp_path: Path, processes: Processes) -> None:
    run_kill_rounds(tmp_path, processes, ["40", "1"], CHECKPOINT_KILL_POINTS)


def test_kill_minus_nine_before_any_checkpoint_recovers_from_the_wal(
    tmp_path: Path, processes: Processes
) -> None:
    # No checkpoint ever runs: every block since genesis is only in the WAL when killed.
    rounds = [(3, "after"), (2, "block"), (2, "after")]
    run_kill_rounds(tmp_path, processes, ["40", "100000"], rounds, wal_holds_blocks=True)


def run_kill_rounds(
    tmp_path: Path,
    processes: Processes,
    args: list[str],
    kill_points: list[tuple[int, str]],
    wal_holds_blocks: bool = False,
) -> None:
    """Start ``crash_node.py`` with ``args``, kill it at each point, check the recovery
    each time, and that the surviving history replays to the same app hashes."""
    db_path = tmp_path / "node.db"
    open_chain(db_path).db.close()  # genesis
    committed: dict[str, int] = {}
    last: dict[str, Any] | None = None
    outcomes = []
    for round_no, (blocks_first, phase) in enumerate(kill_points):
        proc = processes.start(
            [sys.executable, str(SCRIPT), str(db_path), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        reader = ChildReader(proc, time.monotonic() + DEADLINE_S)
        ready = reader.next()
        assert ready["ready"] >= (last["height"] if last else 0)
        reported = []
        if phase != "ready":
            while True:
                line = reader.next()
                if "height" in line:
                    reported.append(line)
                    if phase == "after" and len(reported) == blocks_first:
                        break
                elif line["phase"] == phase and len(reported) >= blocks_first:
                    break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=DEADLINE_S)
        reader.close()
        assert proc.returncode == -signal.SIGKILL, f"round {round_no}"
        for line in reported:
            for tx in line["txs"]:
                committed[tx] = line["height"]
            last = line
        if wal_holds_blocks:
            assert db_path.with_name(db_path.name + "-wal").stat().st_size > 0
        height = check_recovered(db_path, committed, last)
        outcomes.append(height - (last["height"] if last else 0))
        if height and (last is None or height > last["height"]):
            # The block in flight when killed made it: it is the new baseline.
            last = {"height": height, "app_hash": _app_hash_at(db_path, height)}
    assert set(outcomes) <= {0, 1}
    # The whole surviving history replays to the same app hashes.
    db = Database(db_path)
    engine = SoloEngine(Application(db))
    stored = [engine.blocks.get_header(h).app_hash for h in range(1, engine.height + 1)]  # type: ignore[union-attr]
    db.close()
    assert len(stored) >= len(kill_points)
    assert replay(db_path, tmp_path) == stored


def _app_hash_at(db_path: Path, height: int) -> str:
    db = Database(db_path)
    header = SoloEngine(Application(db)).blocks.get_header(height)
    db.close()
    assert header is not None
    return header.app_hash.hex()


def test_kill_minus_nine_real_node_under_api_load(tmp_path: Path, processes: Processes) -> None:
    """The real `carchain node start`: what its API reported committed survives."""
    import base64

    import httpx

    from carchain.node.home import NodeConfig, NodeHome
    from carchain.sdk.transactions import build_tx
    from tests.cli.test_cli import CARCHAIN, free_port, wait_for_node
    from tests.conftest import CHAIN_ID, make_genesis, seeded_key
    from tests.core.test_vehicles import register_body

    home = NodeHome(tmp_path / "home")
    port = free_port()
    # Small blocks, so the node is still committing when it is killed.
    config = NodeConfig(CHAIN_ID, api_port=port, block_interval_ms=20, max_block_txs=50)
    home.create(make_genesis(), config)
    proc = processes.start(
        [CARCHAIN, "node", "start", "--home", str(home.path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_node(proc, url)
    keys = [seeded_key("saic"), seeded_key("geely")]
    txs = [
        build_tx(
            CHAIN_ID, keys[i % 2], i // 2 + 1, register_body(f"{('saic', 'geely')[i % 2]}:api-{i}")
        )
        for i in range(3000)
    ]
    reported: set[str] = set()
    with httpx.Client(base_url=url, timeout=30) as http:
        for start in range(0, len(txs), 500):
            batch = [base64.b64encode(t).decode() for t in txs[start : start + 500]]
            doc = http.post("/txs/batch", json={"txs": batch}).json()
            assert doc["accepted"] == len(batch), doc["results"][:2]
        # Ask about the transactions in order while blocks keep coming; kill as soon
        # as the first block's worth is reported committed.
        deadline = time.monotonic() + DEADLINE_S
        for raw in txs:
            h = hashlib.sha256(raw).hexdigest()
            if http.get(f"/txs/{h}").json().get("state") == "committed":
                reported.add(h)
            if len(reported) >= 50 or time.monotonic() > deadline:
                break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=DEADLINE_S)
    assert len(reported) >= 50
    db = Database(home.db_path)
    engine = SoloEngine(Application(db))
    for h in reported:
        assert engine.blocks.get_tx_location(bytes.fromhex(h)) is not None
    assert naive_app_hash(db) == engine.app.state.app_hash
    committed = sum(len(engine.blocks.get_block(h).txs) for h in range(1, engine.height + 1))  # type: ignore[union-attr]
    assert len(reported) <= committed <= len(txs)
    db.close()
