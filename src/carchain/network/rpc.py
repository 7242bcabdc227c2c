"""A small client for CometBFT's JSON-RPC (the calls the node backend needs)."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import httpx

from carchain.errors import (
    CarchainError,
    ConsensusUnavailable,
    DuplicateTransaction,
    MempoolFull,
    TransactionTooLarge,
)


def map_rpc_error(error: dict[str, Any]) -> CarchainError:
    """Return the typed error for a JSON-RPC error object of CometBFT."""
    data = str(error.get("data") or error.get("message") or "")
    low = data.lower()
    if "already exists in cache" in low:
        return DuplicateTransaction("transaction already in the mempool or committed")
    if "mempool is full" in low:
        return MempoolFull("mempool is full; retry later")
    if "too large" in low:
        return TransactionTooLarge("transaction too large")
    return CarchainError(f"CometBFT RPC error: {data[:200]}")


class CometRpc:
    """JSON-RPC over HTTP to one CometBFT node (async; one pooled client)."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None
        self._ids = itertools.count(1)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """Call ``method``; return its ``result`` or raise a typed error."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout_s,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            )
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            resp = await self._client.post(self.url, json=body)
            doc = resp.json()
        except (httpx.HTTPError, ValueError, RecursionError) as exc:
            # RecursionError: JSON nested too deep for the decoder (a few kB suffice).
            raise ConsensusUnavailable(f"CometBFT RPC at {self.url} did not answer") from exc
        if not isinstance(doc, dict):
            raise ConsensusUnavailable("CometBFT RPC answered nonsense")
        if doc.get("error"):
            raise map_rpc_error(doc["error"])
        return doc.get("result")

    async def broadcast_tx_sync(self, tx: bytes) -> dict[str, Any]:
        """Submit ``tx`` to the mempool; return CheckTx's answer (code, log, codespace)."""
        return dict(await self.call("broadcast_tx_sync", {"tx": base64.b64encode(tx).decode()}))

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
