"""The asyncio ABCI socket server CometBFT connects to (four connections).

It listens on a Unix domain socket in the node home, mode 0600, so only this
user's processes can reach it (and checks the peer's uid where the OS tells
it); a loopback TCP port is an explicit option. At most CometBFT's four
connections are accepted, each bound to its role by its first request
(``connections``); a fifth connection, a request of the wrong role, or a
consensus request out of order (Commit without FinalizeBlock, a height that is
not the next) gets a ``ResponseException`` and that connection is closed,
with nothing executed or committed. The server keeps serving.

Each connection is served in order: responses are produced in request order
and buffered, and a ``Flush`` request makes the server push everything
buffered, then the Flush response (one send per batch, not per response).
All connections share one ``Application`` and run on one event loop, so
requests never interleave inside the application.

A malformed frame or undecodable message gets a ``ResponseException`` and the
connection is closed. An error while executing or committing a block in order
is fatal: the node must not go on with state it cannot vouch for, so the
server stops and ``wait_closed`` raises it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from pathlib import Path

from carchain.engine.abci import protos
from carchain.engine.abci.adapter import AbciAdapter
from carchain.engine.abci.address import AbciAddress, parse_abci_address
from carchain.engine.abci.connections import Connection, ConnectionTable
from carchain.engine.abci.peer import validate_peer_uid
from carchain.engine.abci.profile import PhaseProfile, no_clock
from carchain.engine.abci.wire import FrameReader, encode_frame
from carchain.errors import AbciConnectionRefused, AbciProtocolError, ConfigError
from carchain.privatefs import validate_private_dir

log = logging.getLogger("carchain.abci")
WRITE_HIGH_WATER = 1 << 20


class AbciServer:
    """Serves one ``AbciAdapter`` on a Unix socket (default) or a loopback TCP port."""

    def __init__(
        self, adapter: AbciAdapter, address: str | AbciAddress, profile: PhaseProfile | None = None
    ) -> None:
        self.address = parse_abci_address(address) if isinstance(address, str) else address
        self.adapter = adapter
        self.port = self.address.port
        self._table = ConnectionTable()
        self._abci = protos.get_abci()
        self._flush = encode_frame(
            self._abci.Response(flush=self._abci.ResponseFlush()).SerializeToString()
        )
        self._server: asyncio.Server | None = None
        self._fatal: asyncio.Future[None] | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        # CPU time per phase (benchmarks only); without a profile the clock is a constant.
        self.profile = profile
        self._clock = profile.clock if profile is not None else no_clock

    async def start(self) -> None:
        """Start listening; the socket is bound (mode 0600) when this returns."""
        self._fatal = asyncio.get_running_loop().create_future()
        if self.address.path is not None:
            sock = bind_unix_socket(self.address.path)
            self._server = await asyncio.start_unix_server(self._serve, sock=sock)
        else:
            self._server = await asyncio.start_server(
                self._serve, self.address.host, self.address.port
            )
            self.port = int(self._server.sockets[0].getsockname()[1])
            self.address = AbciAddress(host=self.address.host, port=self.port)
        log.info("ABCI server listening on %s", self.address.format())

    @property
    def connection_count(self) -> int:
        """Return how many client connections are open."""
        return self._table.count

    async def wait_closed(self) -> None:
        """Wait until the server stops; raise the fatal error that stopped it, if any."""
        if self._fatal is None:
            raise RuntimeError("server not started")
        await self._fatal

    def close(self) -> None:
        """Stop listening, drop every connection and remove the socket file."""
        if self._server is not None:
            self._server.close()
            if self.address.path is not None:
                with contextlib.suppress(OSError):
                    self.address.path.unlink()
        for w in list(self._conns):
            w.close()
        if self._fatal is not None and not self._fatal.done():
            self._fatal.set_result(None)

    def _stop_fatally(self, exc: BaseException) -> None:
        log.critical("stopping: consensus request failed: %s", exc)
        if self._fatal is not None and not self._fatal.done():
            self._fatal.set_exception(exc)
        if self._server is not None:
            self._server.close()
        for w in list(self._conns):
            w.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            validate_peer(writer)
            conn = self._table.open()
        except AbciConnectionRefused as exc:
            log.warning("refusing an ABCI connection: %s", exc.message)
            self._reply_exception(writer, f"{exc.code}: {exc.message}")
            with contextlib.suppress(Exception):
                writer.close()
            return
        self._conns.add(writer)
        try:
            await self._serve_requests(conn, FrameReader(reader), writer)
        finally:
            self._conns.discard(writer)
            self._table.close(conn)
            self.adapter.process_connection_closed(conn.role)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve_requests(
        self, conn: Connection, frames: FrameReader, writer: asyncio.StreamWriter
    ) -> None:
        # Responses wait in ``out`` until a Flush (or a full buffer): one send per
        # batch instead of one system call per response.
        out = bytearray()
        try:
            # Judged on its first byte: a connection beyond the four is refused before
            # it can make us buffer a frame of up to MAX_FRAME_BYTES.
            if not await frames.wait_data():
                return
            self._table.validate_admission(conn)
            while True:
                raw = await frames.read_frame()
                if raw is None:
                    return
                t0 = self._clock()
                kind, request = self._decode(raw)
                t1 = self._clock()
                if kind == "flush":
                    out += self._flush
                    writer.write(bytes(out))
                    out.clear()
                    await writer.drain()
                    continue
                if self._table.validate_request(conn, kind) and conn.role is not None:
                    self.adapter.process_connection_opened(conn.role)
                try:
                    response = self.adapter.handle(kind, request)
                except AbciProtocolError:
                    raise  # out of order: refused on this connection, not fatal
                except Exception as exc:  # only consensus requests raise: fatal
                    writer.write(bytes(out))
                    self._reply_exception(writer, f"{kind} failed")
                    self._stop_fatally(exc)
                    return
                t2 = self._clock()
                out += encode_frame(response.SerializeToString())
                if self.profile is not None:
                    self.profile.record(kind, request, t1 - t0, t2 - t1, self._clock() - t2)
                if len(out) > WRITE_HIGH_WATER:
                    writer.write(bytes(out))
                    out.clear()
                    await writer.drain()
        except AbciProtocolError as exc:
            log.warning("closing ABCI connection %d: %s", conn.ident, exc.message)
            writer.write(bytes(out))
            self._reply_exception(writer, f"{exc.code}: {exc.message}")
        except (ConnectionError, asyncio.CancelledError):
            pass

    def _decode(self, raw: bytes) -> tuple[str, object]:
        try:
            request = self._abci.Request.FromString(raw)
        except Exception as exc:  # protobuf's DecodeError, whichever backend
            raise AbciProtocolError("undecodable ABCI request") from exc
        kind = request.WhichOneof("value")
        if kind is None:
            raise AbciProtocolError("empty ABCI request")
        return str(kind), request

    def _reply_exception(self, writer: asyncio.StreamWriter, message: str) -> None:
        resp = self._abci.Response(exception=self._abci.ResponseException(error=message))
        with contextlib.suppress(Exception):
            writer.write(encode_frame(resp.SerializeToString()))


def bind_unix_socket(path: Path) -> socket.socket:
    """Return a listening Unix socket at ``path`` with mode 0600.

    The mode is set on the socket before ``bind`` (Linux creates the file with
    it, so there is no moment when others may connect) and checked after. A
    stale socket file is removed: the caller holds the home's lock, so no
    other server of this home is alive. The folder must be this user's and
    writable by no one else, or another user could unlink the socket and serve
    their own at its path to CometBFT, or plant one of theirs before ours.
    """
    validate_private_dir(path.parent, "ABCI socket folder")
    if path.exists() or path.is_symlink():
        st = path.lstat()
        if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.geteuid():
            raise ConfigError(
                "ABCI socket path exists and is not a socket of this user", path=str(path)
            )
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.fchmod(sock.fileno(), 0o600)
        sock.bind(str(path))
        os.chmod(path, 0o600)
        if stat.S_IMODE(path.stat().st_mode) != 0o600:
            raise ConfigError("could not make the ABCI socket private", path=str(path))
        sock.listen(16)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def validate_peer(writer: asyncio.StreamWriter) -> None:
    """Refuse a peer running as another user: ``SO_PEERCRED`` on the Unix socket, the
    socket's owner in ``/proc/net/tcp`` on loopback TCP (``carchain.engine.abci.peer``).
    """
    validate_peer_uid(writer.get_extra_info("socket"))
