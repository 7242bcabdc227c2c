"""Where the simulation's chain runs: an embedded solo node in this process (the
default) or a fresh CometBFT localnet of 4 validators on loopback.

A backend is a context manager factory: ``backend(root, genesis)`` starts a chain
of ``genesis`` under ``root`` and yields a ``Chain`` (the API URL the SDK, the
gateways and the custodians use; the embedded node for its block clock; the
localnet's layout for its validators). On exit every process the backend started is
stopped by the pid it recorded, also when the block raised.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from carchain.core.genesis import Genesis
from carchain.crypto.signing import SigningKey
from carchain.errors import CarchainError, NetworkError
from carchain.network import localnet
from carchain.network.layout import NetworkLayout
from carchain.node.solo_node import SoloNode
from carchain.sdk.client import Client
from carchain.sim.embedded import EmbeddedNode

EMBEDDED = "embedded"
LOCALNET = "localnet"
LOCALNET_VALIDATORS = 4
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Chain:
    """A running chain: its API URL and what runs it (one of ``embedded``/``network``)."""

    url: str
    kind: str
    embedded: EmbeddedNode | None = None
    network: NetworkLayout | None = None

    @property
    def node(self) -> SoloNode | None:
        """Return the embedded solo node (``None`` on a localnet), as ``EmbeddedNode.node``."""
        return None if self.embedded is None else self.embedded.node

    @property
    def is_network(self) -> bool:
        """Return whether CometBFT decides the blocks (real block time)."""
        return self.network is not None


ChainBackend = Callable[[Path, Genesis], AbstractContextManager[Chain]]
"""``backend(root, genesis)``: start a chain of ``genesis`` under ``root``, yield it."""


@contextmanager
def open_embedded_chain(root: Path, genesis: Genesis) -> Iterator[Chain]:
    """Run an embedded solo node in ``root/node`` (reused if it exists)."""
    with EmbeddedNode(root / "node", genesis) as node:
        yield Chain(node.url, EMBEDDED, embedded=node)


def wait_chain_ready(url: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Return once the node API at ``url`` is ready and has committed a block."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    with Client(url, timeout_s=5.0) as client:
        while time.monotonic() < deadline:
            try:
                client.ready(timeout_s=2.0)
                if int(client.status()["height"]) >= 1:
                    return
            except (CarchainError, OSError, ValueError, KeyError) as exc:
                last = exc
            time.sleep(0.1)
    raise NetworkError(f"the localnet's node API at {url} did not become ready: {last!r}")


def stop_localnet(layout: NetworkLayout) -> None:
    """Stop every node of ``layout`` by the pids its files record (CometBFT, then app)."""
    for node in layout.nodes:
        with contextlib.suppress(CarchainError, OSError):
            localnet.stop_node(layout, node)


def make_localnet_backend(
    validators: int = LOCALNET_VALIDATORS, member_keys: dict[str, SigningKey] | None = None
) -> ChainBackend:
    """Return a backend that creates a fresh localnet of ``validators`` nodes in
    ``root/network`` from the genesis (its first members run the validators; the
    ``member_keys`` saved in its keyring) and serves the API of ``node0``."""

    @contextmanager
    def open_localnet_chain(root: Path, genesis: Genesis) -> Iterator[Chain]:
        home = root / "network"
        created = localnet.create_network(
            home, validators, genesis=genesis, member_keys=member_keys
        )
        try:
            localnet.up(home)
            api = created.layout.nodes[0]
            localnet.wait_port(api.api_port, localnet.START_TIMEOUT_S)
            wait_chain_ready(api.api_url)
            yield Chain(api.api_url, LOCALNET, network=created.layout)
        finally:
            stop_localnet(created.layout)

    return open_localnet_chain
