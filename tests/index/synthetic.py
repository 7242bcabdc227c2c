"""A synthetic chain source (deterministic blocks, no access log) and a script entry
that indexes it, for the test that kills an indexer process mid-run:
``python -m tests.index.synthetic DSN BLOCKS TXS BATCH``."""

from __future__ import annotations

import sys
from collections.abc import Iterator

from carchain.core.access_log import AccessEvent
from carchain.core.transactions import Envelope, encode
from carchain.core.types import Event, TxResult
from carchain.errors import HeightUnavailable
from carchain.index.follower import run_indexer
from carchain.index.store import IndexStore
from carchain.node.backend import BlockView


class SyntheticSource:
    """``blocks`` committed blocks of ``txs`` transactions with two events each."""

    def __init__(self, blocks: int, txs: int) -> None:
        self.blocks, self.txs = blocks, txs

    def get_latest_height(self) -> int:
        """Return the last block's height."""
        return self.blocks

    def get_block(self, height: int) -> BlockView:
        """Return block ``height``, the same every time."""
        if not 1 <= height <= self.blocks:
            raise HeightUnavailable("no such block", height=height)
        raws, results = [], []
        for i in range(self.txs):
            signer = (height * 1_000_003 + i).to_bytes(32, "big")
            raws.append(encode(Envelope(1, "synthetic", signer, height, "t", b"\x80", b"\0" * 64)))
            events = [Event("tx", {"type": "t", "signer": signer.hex()}),
                      Event("e", {"vehicle_id": f"oem:{i}", "n": str(height)})]  # fmt: skip
            results.append(TxResult(0, "", "", events))
        return BlockView(height, height.to_bytes(32, "big"), height, b"p" * 32, b"t" * 32,
                         b"a" * 32, b"v" * 32, raws, results)  # fmt: skip

    def list_members(self) -> list[str]:
        """Return no members (no access log)."""
        return []

    def iterate_oem_entries(self, oem: str, start: int) -> Iterator[tuple[int, AccessEvent]]:
        """Yield nothing."""
        return iter(())


def main(argv: list[str]) -> None:
    """Index a synthetic chain into ``argv[0]`` (blocks, txs, batch follow)."""
    dsn, blocks, txs, batch = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    store = IndexStore.open(dsn)
    run_indexer(SyntheticSource(blocks, txs), store, follow=False, batch_blocks=batch)


if __name__ == "__main__":
    main(sys.argv[1:])
