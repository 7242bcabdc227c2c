"""The ABCI server accepts only processes of its own user, on loopback TCP too (where
any local user can connect): the client socket's owner comes from ``/proc/net/tcp``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from carchain.engine.abci.adapter import AbciAdapter
from carchain.engine.abci.address import AbciAddress
from carchain.engine.abci.peer import compute_proc_endpoint, get_tcp_peer_uid
from carchain.engine.abci.server import AbciServer
from carchain.engine.abci.wire import decode_uvarint, encode_frame
from carchain.engine.application import Application
from carchain.errors import AbciConnectionRefused
from carchain.storage.database import Database
from tests.network.conftest import require_network_setup

pytestmark = pytest.mark.network
OTHER_UID = 54321
LITTLE = sys.byteorder == "little"


def run_client(port: int, request: bytes, last: bytes, uid: int | None, out: int) -> None:
    """In a forked child: become ``uid``, send ``request``, write to ``out`` what came
    back until the server closed the connection or ``last`` (the Flush answer) arrived.
    """
    if uid is not None:
        os.setgid(uid)
        os.setuid(uid)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(("127.0.0.1", port))
        s.sendall(request)
        data = b""
        while not data.endswith(last):
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:  # closed with our request unread
                break
            if not chunk:
                break
            data += chunk
    os.write(out, data)


def read_all(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    return data


@pytest.fixture(scope="module")
def abci() -> Any:
    require_network_setup()
    from carchain.engine.abci import protos

    return protos.get_abci()


async def talk_as(server: AbciServer, abci: Any, user: int | None) -> Any:
    """Run the client (as ``user``, or as us) against the server; return its first
    answer, or ``None`` if the server reset the connection before any.
    """
    req = encode_frame(abci.Request(echo=abci.RequestEcho(message="hi")).SerializeToString())
    req += encode_frame(abci.Request(flush=abci.RequestFlush()).SerializeToString())
    flush = encode_frame(abci.Response(flush=abci.ResponseFlush()).SerializeToString())
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child touches no event loop and exits without cleanup
        try:
            os.close(r)
            run_client(server.port, req, flush, user, w)
        finally:
            os._exit(0)
    os.close(w)
    try:
        data = await asyncio.wait_for(asyncio.to_thread(read_all, r), 30)
    finally:
        os.close(r)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if not data:
        return None
    size, pos = decode_uvarint(data)
    return abci.Response.FromString(data[pos : pos + size])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
def test_invalid_tcp_peer_of_another_user_is_refused(tmp_path: Path, abci: Any) -> None:
    # With --abci-transport tcp any local user can connect; one that is not us must
    # not get a connection slot, let alone the consensus role.
    async def body() -> None:
        db = Database(tmp_path / "state.db")
        server = AbciServer(AbciAdapter(Application(db)), AbciAddress(host="127.0.0.1"))
        handled: list[str] = []
        handle = server.adapter.handle

        def recording(kind: str, request: Any) -> Any:
            handled.append(kind)
            return handle(kind, request)

        server.adapter.handle = recording  # type: ignore[method-assign]
        await server.start()
        try:
            theirs = await talk_as(server, abci, OTHER_UID)
            assert handled == []  # nothing of theirs was served
            if theirs is not None:  # or the refusal was lost to the reset
                assert theirs.WhichOneof("value") == "exception"
                assert "another user" in theirs.exception.error
            ours = await talk_as(server, abci, None)
            assert handled == ["echo"]
            assert ours.WhichOneof("value") == "echo" and ours.echo.message == "hi"
        finally:
            server.close()
            db.close()

    asyncio.run(body())


def proc_addr(ip: str, port: int) -> str:
    raw = ipaddress.ip_address(ip).packed
    if LITTLE:
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return f"{raw.hex().upper()}:{port:04X}"


def test_proc_net_tcp_rows_are_matched_by_both_ends() -> None:
    head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
    row = "   {}: {} {} 01 00000000:00000000 00:00000000 00000000  {}  0 1 1\n"
    server = (ipaddress.ip_address("127.0.0.1"), 26658)
    client = (ipaddress.ip_address("127.0.0.1"), 40000)
    table = head
    table += row.format(0, proc_addr("127.0.0.1", 26658), proc_addr("127.0.0.1", 40000), 0)
    table += row.format(1, proc_addr("127.0.0.1", 40000), proc_addr("127.0.0.1", 26658), 1000)
    assert get_tcp_peer_uid(table, client, server) == 1000
    with pytest.raises(AbciConnectionRefused, match="cannot tell"):
        get_tcp_peer_uid(table, (client[0], 40001), server)
    assert compute_proc_endpoint(proc_addr("::1", 80)) == (ipaddress.ip_address("::1"), 80)
