"""Reading an untrusted server's JSON answer within a size and a time bound.

A node being verified is an adversary: ``response.json()`` would hold whatever it
sends in memory, and httpx's timeout bounds each read, not the answer, so a
server dripping a byte every few seconds would hold the client forever. The
answer is streamed, refused past ``max_bytes`` or once ``deadline_s`` is over.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from carchain.errors import InvalidProof


def get_json_bounded(
    http: httpx.Client, url: str, params: dict[str, Any], max_bytes: int, deadline_s: float
) -> Any:
    """Return the JSON at ``url``; raise ``InvalidProof`` if the answer is larger than
    ``max_bytes`` or takes longer than ``deadline_s`` in all (``httpx.HTTPError`` and
    ``ValueError`` for an unreachable server or bad JSON, as ``response.json()``).
    """
    end = time.monotonic() + deadline_s
    body = bytearray()
    with http.stream("GET", url, params=params) as response:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise InvalidProof("RPC answer is too large", limit=max_bytes, url=url[:100])
            if time.monotonic() > end:
                raise InvalidProof("RPC answer took too long", limit_s=deadline_s, url=url[:100])
    return json.loads(bytes(body))
