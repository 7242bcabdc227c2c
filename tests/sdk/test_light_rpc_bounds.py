"""A CometBFT RPC being verified is an adversary: its answers are read within a size
and a total time bound, never held in memory whole or waited for forever.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from carchain.errors import InvalidProof
from carchain.sdk import light
from tests.sdk.lightchain import light_block_json, make_chain, make_keys

KEYS = make_keys(4, "member")
Answer = Callable[[BaseHTTPRequestHandler, bytes], None]


def rpc_docs() -> dict[str, bytes]:
    lb = light_block_json(make_chain("carchain-a", {1: KEYS}, 3, 1_800_000_000).blocks[2])
    commit = {"result": {"signed_header": {"header": lb["header"], "commit": lb["commit"]}}}
    vals = {"result": {"validators": lb["validators"], "total": str(len(lb["validators"]))}}
    return {"/commit": json.dumps(commit).encode(), "/validators": json.dumps(vals).encode()}


def send_whole(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    handler.wfile.write(body)


@pytest.fixture
def rpc() -> Iterator[Callable[[str, Answer], str]]:
    """Start a loopback RPC whose ``/commit`` answer is written by a given function."""
    servers: list[ThreadingHTTPServer] = []

    def start(padding: str, answer: Answer) -> str:
        docs = rpc_docs()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                body = docs[path] + (padding.encode() if path == "/commit" else b"")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                (answer if path == "/commit" else send_whole)(self, body)

            def log_message(self, *_: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_genuine_answer_within_bounds_is_read(rpc: Callable[[str, Answer], str]) -> None:
    url = rpc("", send_whole)
    assert light.fetch_light_block(url, 2).header.height == 2


def test_invalid_oversized_rpc_answer_is_refused(rpc: Callable[[str, Answer], str]) -> None:
    # Valid JSON, padded with whitespace to twice the bound: a gigabyte would do the same.
    url = rpc(" " * (2 * light.MAX_RPC_BYTES), send_whole)
    with pytest.raises(InvalidProof, match="too large"):
        light.fetch_light_block_docs(url, 2)


def test_invalid_rpc_answer_dripped_past_the_deadline(rpc: Callable[[str, Answer], str]) -> None:
    # Each byte comes well within the read timeout, the whole answer does not.
    def drip(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # client gave up
            handler.wfile.write(body)
            handler.wfile.flush()
            for _ in range(12):
                time.sleep(0.25)  # the attacker's pace, not the test's synchronisation
                handler.wfile.write(b" ")
                handler.wfile.flush()

    url = rpc("", drip)
    with pytest.raises(InvalidProof, match="too long"):
        light.fetch_light_block_docs(url, 2, timeout_s=1.0)
