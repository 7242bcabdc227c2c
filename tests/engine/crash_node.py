"""A solo node that commits blocks forever, for the crash-recovery test.

Usage: python crash_node.py DB_PATH TXS_PER_BLOCK [CHECKPOINT_COMMITS]

It opens (or initialises) the chain in DB_PATH and then, block after block,
signs vehicle registrations, submits them and commits a block. After each
commit has returned (so the block is durable) it prints one JSON line:
``{"height": h, "app_hash": hex, "txs": [hex tx hash, ...]}``. Before each step
of a block it prints ``{"phase": name}`` (``finalize``, ``commit``, and
``block``, the last from inside the SQLite transaction, after the state rows and
before the block row), so the test can SIGKILL it in the middle of any step.
With CHECKPOINT_COMMITS the database's WAL checkpoints run every that many
commits, and each one first prints ``{"phase": "checkpoint"}`` from its thread.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from carchain.core import governance as gov
from carchain.core.transactions import compute_tx_hash
from tests.conftest import Chain, open_chain
from tests.core.test_vehicles import register_body

_out = threading.Lock()  # the checkpoint thread reports too: one whole line at a time


def emit(line: dict[str, Any]) -> None:
    """Write one JSON line to stdout and flush it."""
    with _out:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


def main() -> None:
    """Commit blocks until killed."""
    path, per_block = Path(sys.argv[1]), int(sys.argv[2])
    chain = open_chain(path)
    _announce_phases(chain)
    if len(sys.argv) > 3:
        _announce_checkpoints(chain, int(sys.argv[3]))
    emit({"ready": chain.engine.height})
    while True:
        height = chain.engine.height + 1
        raws = [
            chain.build(oem, register_body(f"{oem}:{height}-{i}"))
            for i in range(per_block)
            for oem in ("saic", "geely")
        ]
        if height % 3 == 0:
            raws.append(chain.build("miit", gov.Propose(gov.SuspendMember("bosch"))))
        for raw in raws:
            res = chain.submit(raw)
            if not res.ok:
                raise SystemExit(f"refused: {res.error_code} {res.log}")
        block = chain.engine.produce_block(1_700_000_000_000 + height * 1000)
        assert block is not None and block.header.height == height
        if any(r.code != 0 for r in block.results):
            raise SystemExit("a transaction failed")
        line = {
            "height": height,
            "app_hash": block.header.app_hash.hex(),
            "txs": [compute_tx_hash(t).hex() for t in raws],
        }
        emit(line)


def _announce_phases(chain: Chain) -> None:
    app, blocks = chain.app, chain.engine.blocks
    finalize, commit, write_block = app.finalize_block, app.commit, blocks.write_block

    def announce(name: str) -> None:
        emit({"phase": name})

    def on_finalize(*args: Any, **kwargs: Any) -> Any:
        announce("finalize")
        return finalize(*args, **kwargs)

    def on_commit(*args: Any, **kwargs: Any) -> Any:
        announce("commit")
        return commit(*args, **kwargs)

    def on_write_block(*args: Any, **kwargs: Any) -> Any:
        announce("block")
        return write_block(*args, **kwargs)

    app.finalize_block = on_finalize  # type: ignore[method-assign]
    app.commit = on_commit  # type: ignore[method-assign]
    blocks.write_block = on_write_block  # type: ignore[method-assign]


def _announce_checkpoints(chain: Chain, every_commits: int) -> None:
    checkpointer = chain.db.checkpointer
    assert checkpointer is not None
    checkpointer.every_commits = every_commits
    wait = checkpointer._wait

    def on_wait() -> bool:
        due = wait()
        if due:
            emit({"phase": "checkpoint"})
        return due

    checkpointer._wait = on_wait  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
