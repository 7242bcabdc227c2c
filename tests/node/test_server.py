"""Serving a node: a dead block loop takes the server down with its error."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from carchain.api.app import create_app
from carchain.errors import ConfigError, StorageCorrupted
from carchain.node.server import serve
from carchain.node.solo_node import SoloNode
from carchain.storage.database import Database
from tests.cli.test_cli import free_port
from tests.conftest import make_genesis

DEADLINE_S = 20.0


def test_block_loop_failure_stops_the_server(tmp_path: Path) -> None:
    node = SoloNode(Database(tmp_path / "node.db"), block_interval_s=0.01)
    node.app.init_chain(make_genesis())

    def broken(now_ms: int) -> None:
        raise StorageCorrupted("disk says no")

    node.engine.produce_block = broken  # type: ignore[assignment,method-assign]

    async def scenario() -> BaseException | None:
        task = asyncio.create_task(serve(node, "127.0.0.1", free_port(), create_app))
        done, _ = await asyncio.wait({task}, timeout=DEADLINE_S)
        if not done:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            pytest.fail("the server kept serving after its block loop died")
        return task.exception()

    assert isinstance(asyncio.run(scenario()), StorageCorrupted)


def test_invalid_non_loopback_host(tmp_path: Path) -> None:
    node = SoloNode(Database(tmp_path / "node.db"))
    node.app.init_chain(make_genesis())
    with pytest.raises(ConfigError):
        asyncio.run(serve(node, "0.0.0.0", free_port(), create_app))
    node.app.db.close()
