"""One HTTP request path for the SDK's clients: timeouts, JSON decoding, typed errors.

The node API and the gateway answer failures with the same error document
(``{"error": {"code", "message", "fields"}}``, see ``api/errors.py``); both
clients turn it back into the typed error the server raised, and an
unreachable server into ``NodeUnavailable``.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any, Self

import httpx

from carchain.errors import CarchainError, NodeUnavailable, make_error


def decode_json_or_empty(resp: httpx.Response) -> Any:
    """Return the response's JSON document, or ``{}`` when the body is not JSON (or nests
    too deep for the decoder: ``RecursionError``, which a hostile server's few kB cause)."""
    try:
        return resp.json()
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


class HttpService:
    """A connection pool to one carchain HTTP service (a node's API or a gateway)."""

    service = "node"

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
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
            resp = self._http.request(method, path, **kw)
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
