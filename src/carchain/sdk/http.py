"""One HTTP request path for the SDK's clients: timeouts, JSON decoding, typed errors.

The node API and the gateway answer failures with the same error document
(``{"error": {"code", "message", "fields"}}``, see ``api/errors.py``); both
clients turn it back into the typed error the server raised, and an
unreachable server into ``NodeUnavailable``.
"""

from __future__ import annotations

import functools
import json
import math
import ssl
from typing import Any, Self

import httpx

from carchain.errors import CarchainError, NodeUnavailable, make_error


def parse_finite_float(text: str) -> float:
    """Return the JSON number ``text`` as a float; ``ValueError`` if it is not finite."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def refuse_constant(name: str) -> float:
    """Refuse ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON."""
    raise ValueError(f"not JSON: {name}")


def decode_json(raw: bytes | str) -> Any:
    """Return the JSON document ``raw`` with finite numbers only: a carchain service never
    sends another, and a hostile one's ``1e400`` (an infinite float) made ``int()`` raise
    ``OverflowError`` wherever an integer was read from the answer."""
    return json.loads(raw, parse_float=parse_finite_float, parse_constant=refuse_constant)


def decode_json_or_empty(resp: httpx.Response) -> Any:
    """Return the response's JSON document, or ``{}`` when the body is not JSON (or nests
    too deep for the decoder: ``RecursionError``, which a hostile server's few kB cause;
    or holds a number out of a float's range)."""
    try:
        return decode_json(resp.content)
    except (ValueError, RecursionError):
        return {}


def compute_response_error(resp: httpx.Response, service: str) -> CarchainError:
    """Return the typed error a failed response carries (a plain one if it carries none)."""
    doc = decode_json_or_empty(resp)
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        fields = err.get("fields") if isinstance(err.get("fields"), dict) else {}
        return make_error(str(err.get("code")), str(err.get("message")), fields)
    return NodeUnavailable(
        f"{service} at {resp.url} answered HTTP {resp.status_code} without a carchain error: "
        "is that URL a carchain " + service + "?"
    )


def decode_object(resp: httpx.Response, service: str) -> dict[str, Any]:
    """Return the JSON object ``resp`` carries (``{}`` for a body that is no JSON);
    ``NodeUnavailable`` for another JSON value (a list, a string, a number)."""
    doc = decode_json_or_empty(resp)
    if not isinstance(doc, dict):
        raise NodeUnavailable(f"{service} at {resp.url} answered no JSON object")
    return doc


def get_object_list(doc: dict[str, Any], name: str, service: str) -> list[dict[str, Any]]:
    """Return ``doc[name]`` if it is a list of JSON objects; ``NodeUnavailable`` otherwise."""
    items = doc.get(name)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise NodeUnavailable(f"{service} answered no list of {name}")
    return items


@functools.cache
def get_ssl_context() -> ssl.SSLContext:
    """Return httpx's default TLS context, made once per process: making one loads the
    CA bundle (~30 ms), which every client would otherwise do again."""
    return httpx.create_ssl_context()


# The most of one answer a client holds (decoded): far above any answer a carchain
# service gives (a block of 64 MiB of transactions in JSON, a gateway's batch), so a
# hostile or broken server's endless or decompression-bomb body is refused instead of
# filling the client's memory.
MAX_RESPONSE_BYTES = 192 * 1024 * 1024
# Headers that describe the body as it came over the wire, not as it is held after reading.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def read_bounded(resp: httpx.Response, max_bytes: int, service: str) -> httpx.Response:
    """Return a copy of the streamed ``resp`` with its (decoded) body read, refusing
    with ``NodeUnavailable`` past ``max_bytes`` (``httpx.HTTPError`` as reading raises)."""
    body = bytearray()
    for chunk in resp.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise NodeUnavailable(f"{service} at {resp.url} sent an answer over {max_bytes} bytes")
    headers = [(k, v) for k, v in resp.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
    return httpx.Response(
        resp.status_code, headers=headers, content=bytes(body), request=resp.request
    )


class HttpService:
    """A connection pool to one carchain HTTP service (a node's API or a gateway).

    Every answer is read within ``max_response_bytes`` (``MAX_RESPONSE_BYTES``).
    """

    service = "node"

    def __init__(
        self, url: str, timeout_s: float = 30.0, max_response_bytes: int = MAX_RESPONSE_BYTES
    ) -> None:
        self.url = url.rstrip("/")
        self.max_response_bytes = max_response_bytes
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s, verify=get_ssl_context())

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kw: Any
    ) -> httpx.Response:
        """Return the response if its status is in ``ok``; raise its typed error otherwise."""
        try:
            with self._http.stream(method, path, **kw) as streamed:
                resp = read_bounded(streamed, self.max_response_bytes, self.service)
        except httpx.HTTPError as exc:
            raise NodeUnavailable(f"cannot reach {self.service} at {self.url}: {exc}") from exc
        if resp.status_code not in ok:
            raise compute_response_error(resp, self.service)
        return resp

    def _request(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kw: Any) -> Any:
        """Return the JSON document of a response whose status is in ``ok`` (``{}`` if none)."""
        return decode_json_or_empty(self._send(method, path, ok=ok, **kw))

    def _request_object(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kw: Any
    ) -> dict[str, Any]:
        """Return the JSON object a response carries; ``NodeUnavailable`` if its body is
        another JSON value (a list, a string: not an answer this client can read)."""
        return decode_object(self._send(method, path, ok=ok, **kw), self.service)
