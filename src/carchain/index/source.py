"""Where the indexer reads committed blocks and access-log entries: a node's backend
in-process (the embedded node) or its HTTP API (any node, through the SDK)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any, Protocol

from carchain.core import access_log as log
from carchain.core import members
from carchain.core.state import ReadOnlyKVView
from carchain.core.types import OK_RESULT_CODE, Event, TxResult
from carchain.errors import HeightUnavailable, NodeUnavailable, make_error
from carchain.node.backend import BlockView, NodeBackend
from carchain.sdk.client import Client

# Entries read per request of an OEM's log (the API's page limit).
CHUNK = log.MAX_PAGE
OemEntry = tuple[int, log.AccessEvent]


class ChainSource(Protocol):
    """What the indexer reads from a node."""

    def get_latest_height(self) -> int:
        """Return the latest committed height."""

    def get_block(self, height: int) -> BlockView:
        """Return the committed block at ``height`` (``HeightUnavailable`` if missing)."""

    def list_members(self) -> list[str]:
        """Return every member id (each has an OEM access log, empty for a non-OEM)."""

    def iterate_oem_entries(self, oem: str, start: int) -> Iterator[OemEntry]:
        """Yield ``(oem seq, event)`` of the OEM's log from ``start`` up, oldest first,
        all read at one state height at or after the latest committed height."""


class _HeightView(ReadOnlyKVView):
    """Committed state at one height, for core's readers."""

    def __init__(self, backend: NodeBackend, height: int) -> None:
        self.backend, self.height = backend, height

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the value under ``key`` at this view's height, or ``None``."""
        q = self.backend.query(store, key, False, self.height)
        if q.code == OK_RESULT_CODE:
            return q.value
        if q.error_code == "not_found":
            return None
        raise make_error(q.error_code, q.log, {**q.fields, "height": q.height})


class BackendSource:
    """Reads an in-process node (the embedded node's backend)."""

    def __init__(self, backend: NodeBackend) -> None:
        self.backend = backend

    def get_latest_height(self) -> int:
        """Return the latest committed height."""
        return self.backend.status().height

    def get_block(self, height: int) -> BlockView:
        """Return the committed block at ``height``."""
        block = self.backend.get_block_optional(height)
        if block is None:
            raise HeightUnavailable("the node no longer holds this block", height=height)
        return block

    def list_members(self) -> list[str]:
        """Return every member id."""
        prefix = members.MEMBER_KEY_PREFIX
        return [
            members.decode_member(v).member_id
            for _, v in self.backend.iterate(members.STORE, prefix, 2**31, b"")
        ]

    def iterate_oem_entries(self, oem: str, start: int) -> Iterator[OemEntry]:
        """Yield the OEM's entries from ``start`` up, read at the latest state."""
        at = self.backend.query(log.STORE, log.compute_oem_log_size_key(oem), False, 0).height
        view = _HeightView(self.backend, at)
        size = log.get_oem_log_size(view, oem)
        for first in range(start, size, CHUNK):
            top = min(first + CHUNK, size)
            yield from reversed(log.get_oem_access_log_page(view, oem, top, top - first))


class HttpSource:
    """Reads a node over its HTTP API; every access-log entry is proven (SDK-checked)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get_latest_height(self) -> int:
        """Return the latest committed height."""
        return _get_int(self.client.status(), "height")

    def get_block(self, height: int) -> BlockView:
        """Return the committed block at ``height`` (``GET /blocks/{height}``)."""
        return parse_block(self.client.block(height))

    def list_members(self) -> list[str]:
        """Return every member id (``GET /members``, paged)."""
        out: list[str] = []
        while True:
            page = self.client.members(limit=100, after=out[-1] if out else "")
            out.extend(str(m["member_id"]) for m in page)
            if len(page) < 100:
                return out

    def iterate_oem_entries(self, oem: str, start: int) -> Iterator[OemEntry]:
        """Yield the OEM's entries from ``start`` up, each page proven, all at one height."""
        height, first = 0, start
        while True:
            page = self.client.oem_access_log(oem, first + CHUNK, CHUNK, height)
            height = page.height
            pairs = zip(page.oem_seqs or [], page.events, strict=True)
            yield from sorted((p for p in pairs if p[0] >= first), key=lambda p: p[0])
            first += CHUNK
            if first >= page.size:
                return


def _get_int(doc: dict[str, Any], name: str) -> int:
    value = doc.get(name)
    if type(value) is not int:
        raise NodeUnavailable(f"node answer lacks an integer {name!r}")
    return value


def _parse_result(doc: dict[str, Any]) -> TxResult:
    events = [
        Event(str(e["type"]), {str(k): str(v) for k, v in e["attributes"].items()})
        for e in doc["events"]
    ]
    return TxResult(
        int(doc["code"]), str(doc["error_code"]), str(doc["log"]), events,
        dict(doc.get("fields", {})),
    )  # fmt: skip


def parse_block(doc: dict[str, Any]) -> BlockView:
    """Return the block view of a ``GET /blocks/{height}`` document."""
    try:
        return BlockView(
            int(doc["height"]), bytes.fromhex(doc["hash"]), int(doc["time_ms"]),
            bytes.fromhex(doc["prev_hash"]), bytes.fromhex(doc["tx_root"]),
            bytes.fromhex(doc["app_hash"]), bytes.fromhex(doc["proposer"]),
            [base64.b64decode(t, validate=True) for t in doc["txs"]],
            [_parse_result(r) for r in doc["results"]],
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise NodeUnavailable(f"malformed block from the node: {type(exc).__name__}") from exc
