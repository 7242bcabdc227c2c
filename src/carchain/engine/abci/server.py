"""The asyncio ABCI socket server CometBFT connects to (four connections).

Each connection is served in order: responses are produced in request order
and buffered, and a ``Flush`` request makes the server push everything
buffered, then the Flush response (one send per batch, not per response).
CometBFT opens one connection each for consensus, mempool, query and
snapshots; they all share one ``Application`` and run on one event loop, so
requests never interleave inside the application.

A malformed frame or undecodable message gets a ``ResponseException`` and the
connection is closed; the server keeps serving. An error while executing or
committing a block is fatal: the node must not go on with state it cannot
vouch for, so the server stops and ``wait_closed`` raises it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from carchain.engine.abci import protos
from carchain.engine.abci.adapter import AbciAdapter
from carchain.engine.abci.wire import AbciProtocolError, FrameReader, encode_frame
from carchain.node.home import validate_loopback

log = logging.getLogger("carchain.abci")
WRITE_HIGH_WATER = 1 << 20


class AbciServer:
    """Serves one ``AbciAdapter`` on a loopback TCP port."""

    def __init__(self, adapter: AbciAdapter, host: str = "127.0.0.1", port: int = 26658) -> None:
        validate_loopback(host)
        self.adapter = adapter
        self.host = host
        self.port = port
        self._abci = protos.get_abci()
        self._flush = encode_frame(
            self._abci.Response(flush=self._abci.ResponseFlush()).SerializeToString()
        )
        self._server: asyncio.Server | None = None
        self._fatal: asyncio.Future[None] | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Start listening; the port is bound when this returns."""
        self._fatal = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        log.info("ABCI server listening on %s:%d", self.host, self.port)

    async def wait_closed(self) -> None:
        """Wait until the server stops; raise the fatal error that stopped it, if any."""
        if self._fatal is None:
            raise RuntimeError("server not started")
        await self._fatal

    def close(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
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
        self._conns.add(writer)
        frames = FrameReader(reader)
        # Responses wait in ``out`` until a Flush (or a full buffer): one send per
        # batch instead of one system call per response.
        out = bytearray()
        try:
            while True:
                raw = await frames.read_frame()
                if raw is None:
                    return
                try:
                    request = self._abci.Request.FromString(raw)
                except Exception as exc:  # protobuf's DecodeError, whichever backend
                    raise AbciProtocolError("undecodable ABCI request") from exc
                kind = request.WhichOneof("value")
                if kind == "flush":
                    out += self._flush
                    writer.write(bytes(out))
                    out.clear()
                    await writer.drain()
                    continue
                if kind is None:
                    raise AbciProtocolError("empty ABCI request")
                try:
                    response = self.adapter.handle(kind, request)
                except Exception as exc:  # only consensus requests raise: fatal
                    writer.write(bytes(out))
                    self._reply_exception(writer, f"{kind} failed")
                    self._stop_fatally(exc)
                    return
                out += encode_frame(response.SerializeToString())
                if len(out) > WRITE_HIGH_WATER:
                    writer.write(bytes(out))
                    out.clear()
                    await writer.drain()
        except AbciProtocolError as exc:
            log.warning("closing ABCI connection: %s", exc.message)
            writer.write(bytes(out))
            self._reply_exception(writer, f"{exc.code}: {exc.message}")
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    def _reply_exception(self, writer: asyncio.StreamWriter, message: str) -> None:
        resp = self._abci.Response(exception=self._abci.ResponseException(error=message))
        with contextlib.suppress(Exception):
            writer.write(encode_frame(resp.SerializeToString()))
