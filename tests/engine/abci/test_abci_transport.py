"""Who may talk to the ABCI server: a private Unix socket, CometBFT's four connections,
consensus requests only in order, and the pending view rebuilt when CometBFT's
mempool goes away (issue 7, items 4 and 5)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from carchain.core.transactions import compute_tx_hash
from carchain.engine.abci.adapter import AbciAdapter
from carchain.engine.abci.address import compute_unix_address, parse_abci_address
from carchain.engine.abci.server import AbciServer, bind_unix_socket
from carchain.engine.application import Application
from carchain.errors import ConfigError
from carchain.network.backend import RECONCILE_GRACE_S, CometBackend
from carchain.storage.database import Database
from tests.engine.abci.test_abci_server import Conn, finalize, init_request, register_tx, run
from tests.network.conftest import require_network_setup

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def abci() -> Any:
    """The generated ``tendermint.abci.types_pb2`` module."""
    require_network_setup()
    from carchain.engine.abci import protos

    return protos.get_abci()


@dataclass
class Rig:
    """A server on a Unix socket in a node home, and a way to connect to it."""

    abci: Any
    server: AbciServer
    home: Path

    async def connect(self) -> Conn:
        """Open a client connection to the socket."""
        assert self.server.address.path is not None
        r, w = await asyncio.open_unix_connection(str(self.server.address.path))
        return Conn(self.abci, r, w)

    def height_and_hash(self) -> tuple[int, bytes]:
        """Return the committed height and app hash."""
        st = self.server.adapter.app.state
        return st.height, st.app_hash

    async def wait_connections(self, count: int) -> None:
        """Wait (bounded) until the server has seen closes down to ``count`` connections."""
        deadline = asyncio.get_running_loop().time() + 10
        while self.server.connection_count > count:
            assert asyncio.get_running_loop().time() < deadline, "connections never closed"
            await asyncio.sleep(0)

    def is_fatal(self) -> bool:
        """Return whether the server stopped on an error."""
        fatal = self.server._fatal
        return fatal is not None and fatal.done()


@asynccontextmanager
async def serving(home: Path, abci: Any) -> AsyncIterator[Rig]:
    home.mkdir(parents=True, exist_ok=True)
    db = Database(home / "state.db")
    server = AbciServer(AbciAdapter(Application(db)), compute_unix_address(home))
    await server.start()
    try:
        yield Rig(abci, server, home)
    finally:
        server.close()
        db.close()


async def refused(conn: Conn) -> str:
    """Flush; return the ResponseException's text and check the connection was closed."""
    conn.send(flush=conn.abci.RequestFlush())
    await conn.writer.drain()
    resp = await conn.recv()
    assert resp.WhichOneof("value") == "exception", resp
    with contextlib.suppress(ConnectionResetError):  # a reset if requests were left unread
        assert await asyncio.wait_for(conn.frames.read_frame(), 10) is None
    return str(resp.exception.error)


@dataclass
class Comet:
    """The four connections CometBFT's proxy opens, each having shown its role."""

    query: Conn
    snapshot: Conn
    mempool: Conn
    consensus: Conn


async def connect_comet(rig: Rig, committed: int = 1) -> Comet:
    """Connect like CometBFT (query, snapshot, mempool, consensus); commit ``committed``
    blocks, each with one transaction sent through the mempool connection."""
    a = rig.abci
    c = Comet(*[await rig.connect() for _ in range(4)])
    await c.query.call(info=a.RequestInfo())
    await c.snapshot.call(list_snapshots=a.RequestListSnapshots())
    await c.consensus.call(init_chain=init_request(a))
    for h in range(1, committed + 1):
        tx = register_tx(h, f"v-{h}")
        assert (await c.mempool.call(check_tx=a.RequestCheckTx(tx=tx))).check_tx.code == 0
        await c.consensus.call(finalize_block=finalize(a, h, [tx]))
        await c.consensus.call(commit=a.RequestCommit())
    return c


# --- the socket -----------------------------------------------------------------------


def test_abci_socket_is_private_and_in_the_home(tmp_path: Path, abci: Any) -> None:
    async def body() -> None:
        async with serving(tmp_path / "home", abci) as rig:
            path = rig.server.address.path
            assert path == (tmp_path / "home" / "abci.sock").resolve()
            mode = path.stat().st_mode
            assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
            c = await rig.connect()
            assert (await c.call(echo=abci.RequestEcho(message="hi"))).echo.message == "hi"
        assert not path.exists()  # removed on close

    run(body())


def test_stale_socket_file_is_replaced_but_never_another_file(tmp_path: Path) -> None:
    stale = tmp_path / "abci.sock"
    old = socket.socket(socket.AF_UNIX)
    old.bind(str(stale))
    old.close()  # a crashed server leaves its socket file behind
    fresh = bind_unix_socket(stale)
    fresh.close()
    assert stat.S_IMODE(stale.stat().st_mode) == 0o600
    stale.unlink()
    stale.write_text("not a socket")
    with pytest.raises(ConfigError, match="not a socket"):
        bind_unix_socket(stale)
    assert stale.read_text() == "not a socket"


def test_invalid_peer_of_another_user_is_refused(
    tmp_path: Path, abci: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carchain.engine.abci import server as server_module

    async def body() -> None:
        async with serving(tmp_path, abci) as rig:
            # As if the server ran as another user than the connecting process.
            monkeypatch.setattr(server_module.os, "getuid", lambda: os.geteuid() + 1)
            c = await rig.connect()
            c.send(info=abci.RequestInfo())
            assert "another user" in await refused(c)
            assert rig.server.connection_count == 0
            monkeypatch.undo()
            c = await rig.connect()
            assert (await c.call(echo=abci.RequestEcho(message="me"))).echo.message == "me"

    run(body())


@pytest.mark.parametrize(
    "address",
    ["tcp://10.0.0.1:26658", "tcp://0.0.0.0:26658", "unix://relative/abci.sock", "grpc://x:1"],
)
def test_invalid_abci_address_is_refused(address: str) -> None:
    with pytest.raises(ConfigError):
        parse_abci_address(address)


def test_tcp_loopback_is_an_explicit_option() -> None:
    assert parse_abci_address("tcp://127.0.0.1:26658").format() == "tcp://127.0.0.1:26658"
    assert parse_abci_address("unix:///tmp/x/abci.sock").is_unix


# --- CometBFT's four connections ------------------------------------------------------


def test_fifth_connection_is_refused_and_cannot_commit(tmp_path: Path, abci: Any) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as rig:
            comet = await connect_comet(rig)
            before = rig.height_and_hash()
            intruder = await rig.connect()
            intruder.send(finalize_block=finalize(abci, before[0] + 1, [register_tx(2, "v-x")]))
            intruder.send(commit=abci.RequestCommit())
            assert "abci_connection_refused" in await refused(intruder)
            assert rig.height_and_hash() == before
            # CometBFT's own connections are untouched and go on.
            info = (await comet.query.call(info=abci.RequestInfo())).info
            assert info.last_block_height == before[0]
            await comet.consensus.call(finalize_block=finalize(abci, before[0] + 1, []))
            await comet.consensus.call(commit=abci.RequestCommit())
            assert rig.height_and_hash()[0] == before[0] + 1

    run(body())


def test_closed_connection_frees_its_slot_for_a_restarted_cometbft(
    tmp_path: Path, abci: Any
) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as rig:
            comet = await connect_comet(rig)
            for c in (comet.query, comet.snapshot, comet.mempool, comet.consensus):
                c.writer.close()
            await rig.wait_connections(0)
            again = Comet(*[await rig.connect() for _ in range(4)])
            assert (await again.query.call(info=abci.RequestInfo())).info.last_block_height == 1
            await again.consensus.call(finalize_block=finalize(abci, 2, []))
            await again.consensus.call(commit=abci.RequestCommit())
            assert rig.height_and_hash()[0] == 2

    run(body())


def test_invalid_second_connection_for_a_held_role_is_refused(tmp_path: Path, abci: Any) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as rig:
            comet = Comet(*[await rig.connect() for _ in range(3)], await rig.connect())
            await comet.consensus.call(init_chain=init_request(abci))
            await comet.query.call(info=abci.RequestInfo())
            # Three connections have no role yet, one is consensus: a second consensus
            # connection is refused even below the connection limit.
            comet.snapshot.send(finalize_block=finalize(abci, 1, []))
            assert "already open" in await refused(comet.snapshot)
            assert rig.height_and_hash()[0] == 0

    run(body())


@pytest.mark.parametrize(
    "request_kind",
    ["finalize_block", "commit", "init_chain", "prepare_proposal"],
)
def test_invalid_consensus_request_on_mempool_connection_is_refused(
    tmp_path: Path, abci: Any, request_kind: str
) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as rig:
            comet = await connect_comet(rig)
            before = rig.height_and_hash()
            requests = {
                "finalize_block": finalize(abci, 2, [register_tx(2, "v-2")]),
                "commit": abci.RequestCommit(),
                "init_chain": init_request(abci),
                "prepare_proposal": abci.RequestPrepareProposal(height=2, max_tx_bytes=1 << 20),
            }
            comet.mempool.send(**{request_kind: requests[request_kind]})
            comet.mempool.send(commit=abci.RequestCommit())
            assert "on the mempool connection" in await refused(comet.mempool)
            assert rig.height_and_hash() == before
            assert not rig.is_fatal()

    run(body())


def test_invalid_query_or_check_on_consensus_connection_is_refused(
    tmp_path: Path, abci: Any
) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as rig:
            comet = await connect_comet(rig)
            comet.consensus.send(check_tx=abci.RequestCheckTx(tx=register_tx(2, "v-2")))
            assert "on the consensus connection" in await refused(comet.consensus)
            assert not rig.server.adapter.pending
            assert not rig.is_fatal()

    run(body())


# --- consensus requests in order ------------------------------------------------------


def test_invalid_bare_commit_is_refused_and_node_keeps_serving(tmp_path: Path, abci: Any) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as rig:
            comet = await connect_comet(rig)
            before = rig.height_and_hash()
            comet.consensus.send(commit=abci.RequestCommit())
            assert "commit without finalize_block" in await refused(comet.consensus)
            assert not rig.is_fatal()
            assert rig.height_and_hash() == before
            await rig.wait_connections(3)
            # A new consensus connection (CometBFT restarted) carries on.
            consensus = await rig.connect()
            await consensus.call(finalize_block=finalize(abci, 2, []))
            await consensus.call(commit=abci.RequestCommit())
            assert rig.height_and_hash()[0] == 2

    run(body())


@pytest.mark.parametrize(
    ("heights", "why"),
    [
        ([3], "not the next one"),  # skips height 2
        ([1], "not the next one"),  # already committed
        ([0], "not the next one"),
        ([2, 2], "already finalized"),  # a second FinalizeBlock before Commit
        ([2, 3], "already finalized"),
    ],
    ids=["skip", "committed", "zero", "twice", "next-before-commit"],
)
def test_invalid_finalize_height_is_refused(
    tmp_path: Path, abci: Any, heights: list[int], why: str
) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as rig:
            comet = await connect_comet(rig)
            before = rig.height_and_hash()
            *ok, bad = heights
            for h in ok:
                await comet.consensus.call(finalize_block=finalize(abci, h, []))
            comet.consensus.send(finalize_block=finalize(abci, bad, [register_tx(2, "v-2")]))
            comet.consensus.send(commit=abci.RequestCommit())
            assert why in await refused(comet.consensus)
            assert rig.height_and_hash() == before
            assert not rig.is_fatal()

    run(body())


def test_invalid_finalize_before_init_chain_is_refused(tmp_path: Path, abci: Any) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as rig:
            c = await rig.connect()
            c.send(finalize_block=finalize(abci, 1, []))
            assert "before init_chain" in await refused(c)
            assert rig.height_and_hash()[0] == 0 and not rig.is_fatal()

    run(body())


def test_block_finalized_on_a_lost_connection_is_finalized_again(tmp_path: Path, abci: Any) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as rig:
            comet = await connect_comet(rig)
            tx = register_tx(2, "v-2")
            first = await comet.consensus.call(finalize_block=finalize(abci, 2, [tx]))
            comet.consensus.writer.close()  # CometBFT died before Commit
            await rig.wait_connections(3)
            # Its restart replays the block on a fresh consensus connection.
            consensus = await rig.connect()
            fin = (await consensus.call(finalize_block=finalize(abci, 2, [tx]))).finalize_block
            assert fin.app_hash == first.finalize_block.app_hash
            await consensus.call(commit=abci.RequestCommit())
            assert rig.height_and_hash() == (2, fin.app_hash)

    run(body())


# --- the pending view after CometBFT's mempool is gone --------------------------------


@pytest.mark.parametrize("reconnect", ["mempool-closed", "cometbft-restart"])
def test_pending_and_check_state_reset_when_cometbft_mempool_is_gone(
    tmp_path: Path, abci: Any, reconnect: str
) -> None:
    async def body() -> None:
        async with serving(tmp_path, abci) as rig:
            comet = await connect_comet(rig)
            tx = register_tx(2, "v-2")
            check = (await comet.mempool.call(check_tx=abci.RequestCheckTx(tx=tx))).check_tx
            assert check.code == 0
            assert compute_tx_hash(tx) in rig.server.adapter.pending
            if reconnect == "cometbft-restart":
                # All connections close, new ones come and CometBFT's handshake runs.
                for c in (comet.query, comet.snapshot, comet.mempool, comet.consensus):
                    c.writer.close()
                await rig.wait_connections(0)
                comet = Comet(*[await rig.connect() for _ in range(4)])
                await comet.query.call(info=abci.RequestInfo())
            else:
                comet.mempool.writer.close()
                await rig.wait_connections(3)
                comet.mempool = await rig.connect()
                await comet.mempool.call(echo=abci.RequestEcho(message="x"))
            assert compute_tx_hash(tx) not in rig.server.adapter.pending
            # The lost transaction can enter the new mempool again: the check state
            # no longer counts its nonce as used.
            res = (await comet.mempool.call(check_tx=abci.RequestCheckTx(tx=tx))).check_tx
            assert (res.code, res.codespace) == (0, "")

    run(body())


class MempoolRpc:
    """Answers ``unconfirmed_txs`` like CometBFT, from a chosen list."""

    def __init__(self, txs: list[bytes], total: int | None = None) -> None:
        self.txs = txs
        self.total = len(txs) if total is None else total
        self.calls = 0

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        assert method == "unconfirmed_txs"
        self.calls += 1
        return {
            "n_txs": str(len(self.txs)),
            "total": str(self.total),
            "txs": [base64.b64encode(t).decode() for t in self.txs] or None,
        }


def test_reconcile_drops_pending_cometbft_no_longer_holds(tmp_path: Path, abci: Any) -> None:
    db = Database(tmp_path / "state.db")
    adapter = AbciAdapter(Application(db))
    adapter.handle("init_chain", abci.Request(init_chain=init_request(abci)))
    now = [1000.0]
    adapter.clock = lambda: now[0]
    kept, lost = register_tx(1, "v-1"), register_tx(1, "v-2", signer="geely")
    for tx in (kept, lost):
        check = adapter.handle("check_tx", abci.Request(check_tx=abci.RequestCheckTx(tx=tx)))
        assert check.check_tx.code == 0
    young = register_tx(2, "v-3")
    now[0] += RECONCILE_GRACE_S + 1
    check = adapter.handle("check_tx", abci.Request(check_tx=abci.RequestCheckTx(tx=young)))
    assert check.check_tx.code == 0

    def reconcile(rpc: MempoolRpc) -> int:
        backend = CometBackend(adapter, rpc)  # type: ignore[arg-type]
        return asyncio.run(backend.reconcile_pending())

    # CometBFT's list is truncated: nothing can be concluded, nothing dropped.
    assert reconcile(MempoolRpc([kept], total=500)) == 0
    assert len(adapter.pending) == 3
    # ``lost`` is gone from CometBFT; ``young`` was accepted too recently to judge.
    assert reconcile(MempoolRpc([kept])) == 1
    assert set(adapter.pending) == {compute_tx_hash(kept), compute_tx_hash(young)}
    now[0] += RECONCILE_GRACE_S + 1
    assert reconcile(MempoolRpc([])) == 2
    assert not adapter.pending
    rpc = MempoolRpc([])
    assert reconcile(rpc) == 0 and rpc.calls == 0  # nothing pending: CometBFT not asked
    db.close()


def test_socket_path_too_long_is_a_clear_error(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    with pytest.raises(ConfigError, match="too long"):
        compute_unix_address(deep)
    assert not os.path.exists(deep)


# --- the localnet's wiring ------------------------------------------------------------


def test_localnet_uses_the_unix_socket_unless_tcp_is_asked_for(tmp_path: Path) -> None:
    from carchain.errors import NetworkError
    from carchain.network.cometconfig import TUNING, compute_node_settings
    from carchain.network.layout import NetworkLayout, NodeLayout

    unix = NodeLayout("node0", 0, 1001, 1002, 1003, 1004)
    tcp = NodeLayout("node1", 1, 2001, 2002, 2003, 2004, abci_transport="tcp")
    layout = NetworkLayout(tmp_path, "c", [unix, tcp])
    sock = (tmp_path / "node0" / "app" / "abci.sock").resolve()
    assert compute_node_settings(layout, unix, TUNING)[""]["proxy_app"] == f"unix://{sock}"
    assert compute_node_settings(layout, tcp, TUNING)[""]["proxy_app"] == "tcp://127.0.0.1:2003"
    with pytest.raises(NetworkError):
        layout.get_abci_address(NodeLayout("node2", 2, 1, 2, 3, 4, abci_transport="udp"))


def test_app_process_address_comes_from_node_json_or_the_flag(tmp_path: Path) -> None:
    from carchain.network.appnode import get_abci_address

    sock = f"unix://{tmp_path / 'abci.sock'}"
    assert get_abci_address({"abci_address": sock, "abci_port": 5}, None).path == (
        tmp_path / "abci.sock"
    )
    assert get_abci_address({"abci_port": 5}, None).format() == "tcp://127.0.0.1:5"
    assert get_abci_address({"abci_address": sock}, "tcp://127.0.0.1:7").port == 7
    with pytest.raises(ConfigError):
        get_abci_address({"abci_address": sock}, "tcp://192.168.1.2:7")
