"""Running an embedded node: open the home, apply genesis once, serve the API."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import uvicorn

from carchain.engine.solo import SoloConfig
from carchain.node.backend import ApiFactory
from carchain.node.home import NodeHome, validate_config, validate_loopback
from carchain.node.solo_node import SoloNode
from carchain.storage.database import Database
from carchain.telemetry.logs import print_start_lines

log = logging.getLogger("carchain.node")
# Seconds uvicorn lets open requests finish at shutdown before it cancels them: an
# event stream (``GET /events``) never finishes on its own, so without a bound the
# server would wait for its client forever.
SHUTDOWN_GRACE_S = 3


def open_solo_node(home: NodeHome, state_versions: int | None = None) -> SoloNode:
    """Open the node's database and apply genesis if this is its first start.

    ``state_versions`` overrides the configured window of kept heights.
    """
    cfg = home.load_config()
    if state_versions is not None:
        cfg = replace(cfg, state_versions=state_versions)
        validate_config(cfg)
    db = Database(home.db_path)
    node = SoloNode(
        db,
        block_interval_s=cfg.block_interval_ms / 1000,
        config=SoloConfig(max_block_txs=cfg.max_block_txs),
        state_versions=cfg.state_versions,
    )
    if not node.app.is_initialised():
        node.app.init_chain(home.load_genesis())
    return node


async def announce_when_started(server: uvicorn.Server, url: str, home: str) -> None:
    """Print ``listening on URL`` and ``home: PATH`` once ``server`` accepts connections."""
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.02)
    print_start_lines(url, home)


async def serve(node: SoloNode, host: str, port: int, make_api: ApiFactory, home: str = "") -> None:
    """Serve the API that ``make_api`` builds over ``node`` and produce blocks until
    interrupted (SIGINT/SIGTERM); print where it listens once it does."""
    validate_loopback(host)
    config = uvicorn.Config(
        make_api(node),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
    server = uvicorn.Server(config)
    blocks = asyncio.create_task(node.run())
    # If the block loop dies (say StorageCorrupted), stop serving rather than keep
    # accepting transactions that can never commit; its error is raised below.
    blocks.add_done_callback(lambda _: setattr(server, "should_exit", True))
    announce = asyncio.create_task(announce_when_started(server, f"http://{host}:{port}", home))
    try:
        await server.serve()
    finally:
        announce.cancel()
        node.stop()
        await blocks
        node.app.close()


def run_node(
    home: NodeHome,
    make_api: ApiFactory,
    port: int | None = None,
    state_versions: int | None = None,
) -> None:
    """Start the node in ``home``, serving the API ``make_api`` builds, until it is stopped.

    The home stays locked while the node runs: a second node on the same home
    fails with ``HomeLocked`` before it opens the database.
    """
    cfg = home.load_config()
    with home.lock():
        node = open_solo_node(home, state_versions)
        log.info("node %s at height %d", cfg.chain_id, node.engine.height)
        home_text = str(home.path.resolve())
        asyncio.run(serve(node, cfg.api_host, port or cfg.api_port, make_api, home_text))
