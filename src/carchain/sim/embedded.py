"""An embedded node served on a free loopback port in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from carchain.api.app import create_app
from carchain.api.routes.events import close_event_streams
from carchain.api.routes.reports import REPORTS_FOLDER
from carchain.core.genesis import Genesis
from carchain.node.home import NodeConfig, NodeHome
from carchain.node.server import SHUTDOWN_GRACE_S, open_solo_node
from carchain.node.solo_node import SoloNode


def find_free_port(host: str = "127.0.0.1") -> int:
    """Return a port that is free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedNode:
    """A solo node and its API in this process; ``with`` starts and stops it."""

    def __init__(
        self, home: Path, genesis: Genesis, block_interval_ms: int = 100, port: int = 0
    ) -> None:
        self.home = NodeHome(home)
        if not self.home.exists():
            cfg = NodeConfig(chain_id=genesis.chain_id, block_interval_ms=block_interval_ms)
            self.home.create(genesis, cfg)
        self.port = port or find_free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.node: SoloNode | None = None
        self.app: FastAPI | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        """Start serving; return once the API accepts connections."""
        self._thread = threading.Thread(target=self._run, name="carchain-node", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        if not self._ready.is_set():
            raise TimeoutError("embedded node did not start")

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced to the starting thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        node = open_solo_node(self.home)
        self.node = node
        self.app = create_app(node, self.home.path / REPORTS_FOLDER)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        )
        server = uvicorn.Server(config)
        self._server = server
        blocks = asyncio.create_task(node.run())
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        self._ready.set()
        try:
            await serving
        finally:
            node.stop()
            await blocks
            node.app.close()

    def stop(self) -> None:
        """Stop the API and the block loop, and close the database (open event
        streams end first: the server does not wait for their clients)."""
        if self.app is not None:
            close_event_streams(self.app)
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)

    def __enter__(self) -> EmbeddedNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
