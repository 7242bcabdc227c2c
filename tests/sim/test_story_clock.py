"""The story's world on the embedded node: its chain handle and its clock (the
network side: ``tests/network/test_story_localnet.py``)."""

from __future__ import annotations

import time
from pathlib import Path

from carchain.sim.chain_backend import EMBEDDED
from carchain.sim.story_world import EMBEDDED_NOTICE_DELAY_MS, StoryWorld, run_story_world
from carchain.sim.world import FleetParams


def test_embedded_story_world_advances_its_block_clock(tmp_path: Path) -> None:
    def story(sw: StoryWorld) -> int:
        assert not sw.is_network and sw.chain.kind == EMBEDDED and sw.chain.network is None
        assert sw.chain.node is not None and sw.chain.url == sw.client.url
        assert sw.notice_delay_ms == EMBEDDED_NOTICE_DELAY_MS
        before = int(sw.client.status()["height"])
        target = int(time.time() * 1000) + sw.notice_delay_ms
        sw.advance_clock(sw.notice_delay_ms)
        assert sw.clock.offset_ms == sw.notice_delay_ms
        # The node's block clock is the shifted one (the next block is stamped by it;
        # an idle solo node makes no empty blocks).
        assert sw.chain.node.clock() * 1000 >= target
        return before

    before, result = run_story_world(None, FleetParams(vehicles=2, minutes=5, seed=1), tmp_path,
                                     story)  # fmt: skip
    assert result.height >= before > 0
    assert (tmp_path / "node").is_dir() and not (tmp_path / "network").exists()
    assert {"starting the chain", "stopping the chain"} <= set(result.timings)
