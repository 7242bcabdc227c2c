"""A gateway in a process of its own, forked early and started later (``GatewayHost``).

A gateway's ingest (batch checks, blob writes, journal commits), its HTTP server and
its anchoring and custody loops are CPU work that shares one interpreter lock with
whatever else its process runs; as ``carchain gateway start`` does in a deployment,
``GatewayHost`` gives each gateway a process. The process is forked before the caller
starts any thread (``open_gateway_hosts``: a process forked while other threads run
may inherit a lock one of them held), and waits for its ``GatewaySpec``: which OEM,
which keys, which node; the node need not exist yet when the host is forked. The keys
travel over the host's pipe (a local socket pair), never through a file.

The host answers with its gateway's URL once the API accepts connections, or with
the typed error that refused it (``GatewayKeyNotOem``...). It serves until the
parent asks it to stop or is gone (killed: the host then has another parent, which it
checks every second); ``stop`` waits for a clean stop (the journal closed) and kills
the process by its pid only if it does not end.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from carchain.crypto.signing import SigningKey
from carchain.errors import CarchainError, NodeUnavailable, make_error
from carchain.gateway.lease import DEFAULT_LEASE_TTL_S
from carchain.gateway.server import EmbeddedGateway

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
_PARENT_POLL_S = 1.0


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    """What a host needs to run its gateway (the keys as seeds: a key object does not
    cross a process boundary)."""

    data_dir: Path
    oem: str
    oem_seed: bytes = field(repr=False)  # never in a log line or a traceback's locals
    custodian_public_key: bytes
    node_url: str
    anchor_interval_s: float = 0.1
    custodian_seed: bytes | None = field(default=None, repr=False)
    instance_id: str = ""  # "": derived (``lease_keeper.make_instance_id``)
    lease_ttl_s: float = DEFAULT_LEASE_TTL_S


def _open_gateway(spec: GatewaySpec) -> EmbeddedGateway:
    """Open and start ``spec``'s gateway; close it again if it refuses to start."""
    custodian = None if spec.custodian_seed is None else SigningKey.from_seed(spec.custodian_seed)
    gateway = EmbeddedGateway(
        spec.data_dir, spec.oem, SigningKey.from_seed(spec.oem_seed),
        spec.custodian_public_key, spec.node_url, spec.anchor_interval_s, custodian,
        instance_id=spec.instance_id, lease_ttl_s=spec.lease_ttl_s,
    )  # fmt: skip
    try:
        gateway.start()
    except BaseException:
        gateway.stop()
        raise
    return gateway


def _run_gateway(spec: GatewaySpec, conn: Connection, parent: int) -> None:
    """Run ``spec``'s gateway until the parent says stop or is gone."""
    try:
        gateway = _open_gateway(spec)
    except CarchainError as exc:
        conn.send(("error", exc.to_dict()))
        return
    conn.send(("ready", gateway.url))
    try:
        while os.getppid() == parent and not conn.poll(_PARENT_POLL_S):
            pass
    finally:
        gateway.stop()


def _host_main(conn: Connection, parent_end: Connection, parent: int) -> None:
    """The host process: wait for a spec (``None``: end unused), run its gateway; end
    when the parent is gone, whether it waits for its spec or serves."""
    parent_end.close()  # the parent's end, inherited by the fork: ours is ``conn``
    while not conn.poll(_PARENT_POLL_S):
        if os.getppid() != parent:
            return
    try:
        spec = conn.recv()
    except EOFError:
        return
    if isinstance(spec, GatewaySpec):
        _run_gateway(spec, conn, parent)
    conn.close()


class GatewayHost:
    """A forked process that runs one gateway once given its spec (``start_gateway``)."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_host_main, args=(child, self._conn, os.getpid()), name="carchain-gateway-host",
            daemon=True,
        )  # fmt: skip
        self.process.start()
        child.close()
        self.url = ""

    def start_gateway(self, spec: GatewaySpec) -> str:
        """Start the gateway of ``spec`` in the host; return its URL once it serves.

        Raises the gateway's typed error if it refused to start, ``NodeUnavailable``
        if the host did not answer in time or ended."""
        self._conn.send(spec)
        if not self._conn.poll(START_TIMEOUT_S):
            raise NodeUnavailable(f"the gateway process of {spec.oem!r} did not start in time")
        try:
            kind, value = self._conn.recv()
        except EOFError:
            raise NodeUnavailable(f"the gateway process of {spec.oem!r} ended") from None
        if kind == "error":
            raise _rebuild_error(value)
        self.url = str(value)
        return self.url

    def stop(self) -> None:
        """Stop the gateway (and the host): ask, wait, and kill it by its pid if it stays.
        Stopping a stopped host does nothing."""
        if self.process.is_alive():
            with contextlib.suppress(OSError):  # the host already hung up
                self._conn.send(None)
            self.process.join(STOP_TIMEOUT_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(STOP_TIMEOUT_S)
        self._conn.close()


def _rebuild_error(doc: Any) -> CarchainError:
    if not isinstance(doc, dict):
        return NodeUnavailable("the gateway process failed")
    return make_error(str(doc.get("code")), str(doc.get("message")), doc.get("fields"))


@contextmanager
def open_gateway_hosts(count: int) -> Iterator[list[GatewayHost]]:
    """Fork ``count`` gateway hosts now (call it before this process starts a thread);
    stop every one when the block ends, whatever happened."""
    with ExitStack() as stack:
        hosts = []
        for _ in range(count):
            host = GatewayHost()
            stack.callback(host.stop)
            hosts.append(host)
        yield hosts
