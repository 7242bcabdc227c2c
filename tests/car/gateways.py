"""Gateways for car tests: the real gateway app served on loopback, and a wrapper around
it that rewrites its batch proof answers (a lying or broken gateway)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.dataplane import wait_for

Asgi = Any
Rewrite = Callable[[dict[str, Any]], bytes]


@contextmanager
def serving(app: Asgi, port: int) -> Iterator[None]:
    """Serve ``app`` on ``port`` (loopback) in a thread until the block ends."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), 30, "server")
        yield
    finally:
        server.should_exit = True
        thread.join(30)


class ProofRewriter:
    """The real gateway app, except that a 200 answer to ``GET /batches/{hash}/proof``
    is replaced by ``rewrite(the real answer)`` while ``rewrite`` is set."""

    def __init__(self, app: Asgi) -> None:
        self.app = app
        self.rewrite: Rewrite | None = None
        self.rewritten = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        rewrite = self.rewrite
        is_proof = scope["type"] == "http" and scope["path"].endswith("/proof")
        if rewrite is None or not is_proof:
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def keep(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if start["status"] == 200:
                body = rewrite(json.loads(body))
                self.rewritten += 1
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, keep)


def lie_about_anchor(doc: dict[str, Any]) -> bytes:
    """The real proof, but an anchor seq and height that are not the anchor's."""
    anchor = {**doc["anchor"], "seq": doc["anchor"]["seq"] + 7, "height": 10**9}
    return json.dumps({**doc, "anchor": anchor}).encode()


def garble_anchor_numbers(doc: dict[str, Any]) -> bytes:
    """The real proof, but a seq and height that are no integers."""
    anchor = {**doc["anchor"], "seq": "seven", "height": [1.5]}
    return json.dumps({**doc, "anchor": anchor}).encode()


def replace_with(value: object) -> Rewrite:
    """A rewrite that answers ``value`` (JSON) whatever the real answer was."""
    return lambda _doc: json.dumps(value).encode()


def change(key: str, value: object) -> Rewrite:
    """A rewrite that sets ``key`` of the real answer (``anchor.tx``: a nested key)."""

    def apply(doc: dict[str, Any]) -> bytes:
        if key.startswith("anchor."):
            doc = {**doc, "anchor": {**doc["anchor"], key.removeprefix("anchor."): value}}
        else:
            doc = {**doc, key: value}
        return json.dumps(doc).encode()

    return apply
