"""Fixtures of the network tests: localnets on loopback, stopped by pid at the end.

Every process a localnet starts runs in its own process group and is recorded
in a pid file; the fixture's finalizer stops them all (SIGTERM, then SIGKILL)
even when the test fails.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from carchain.network import localnet
from carchain.network.layout import NetworkLayout, NodeLayout
from carchain.network.localnet import CreatedNetwork

T = TypeVar("T")


def require_network_setup() -> None:
    """Fail clearly if the setup step (CometBFT binary, generated protos) did not run."""
    from carchain.engine.abci import protos

    try:
        localnet.find_cometbft()
        protos.get_abci()
    except Exception as exc:
        pytest.fail(f"network setup missing ({exc}); run `make setup-network`")


def wait_for(
    condition: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.1
) -> T:
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last_exc: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # a node may be restarting; keep polling
            last_exc = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}: {last_exc!r}")
        time.sleep(interval_s)


def hold_for(condition: Callable[[], bool], duration_s: float, what: str) -> None:
    """Poll ``condition`` for ``duration_s``; fail as soon as it is false (an absence check)."""
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        assert condition(), what
        time.sleep(0.2)


def rpc_get(node: NodeLayout, method: str, **params: Any) -> Any:
    """Return the ``result`` of a CometBFT RPC GET."""
    doc = httpx.get(f"{node.rpc_url}/{method}", params=params, timeout=5).json()
    if "result" not in doc:
        raise RuntimeError(f"RPC error: {doc.get('error')}")
    return doc["result"]


def get_height(node: NodeLayout) -> int:
    """Return the node's latest committed height per its CometBFT."""
    return int(rpc_get(node, "status")["sync_info"]["latest_block_height"])


def get_header_app_hash(node: NodeLayout, height: int) -> str:
    """Return the app hash in the node's header at ``height`` (the state after ``height-1``)."""
    return str(rpc_get(node, "header", height=height)["header"]["app_hash"])


@dataclass
class Localnet:
    """A running localnet under test."""

    created: CreatedNetwork
    home: Path

    @property
    def layout(self) -> NetworkLayout:
        """Return the layout."""
        return self.created.layout

    @property
    def nodes(self) -> list[NodeLayout]:
        """Return the nodes."""
        return self.layout.nodes

    def wait_height(
        self, height: int, nodes: list[NodeLayout] | None = None, timeout_s: float = 60
    ) -> None:
        """Wait until every node in ``nodes`` (default all) reached ``height``."""
        for n in nodes or self.nodes:
            wait_for(lambda n=n: get_height(n) >= height, timeout_s, f"{n.name} at {height}")

    def max_height(self, nodes: list[NodeLayout] | None = None) -> int:
        """Return the highest height among reachable nodes."""
        hs = []
        for n in nodes or self.nodes:
            with contextlib.suppress(Exception):
                hs.append(get_height(n))
        return max(hs)


@contextlib.contextmanager
def run_localnet(home: Path, validators: int = 4) -> Iterator[Localnet]:
    """Create and start a localnet in ``home``; stop every process by pid on exit."""
    require_network_setup()
    created = localnet.create_network(home, validators)
    net = Localnet(created, home)
    try:
        localnet.up(home)
        net.wait_height(2)
        yield net
    finally:
        for node in created.layout.nodes:
            with contextlib.suppress(Exception):
                localnet.stop_node(created.layout, node)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Localnet]:
    """One 4-validator localnet shared by a test module."""
    with run_localnet(tmp_path_factory.mktemp("net")) as n:
        yield n
