"""A read-only view of a node's committed state, so the gateway uses core's own readers."""

from __future__ import annotations

from carchain.core.exceptions import CarchainError, NotFound
from carchain.sdk.client import Client


class ReadOnlyView(CarchainError):
    """Something tried to write through a read-only chain view."""

    code = "internal"


class ChainView:
    """``KVView`` over a node's query API: reads committed state, refuses writes.

    Every read is one query at the node's latest height; readers that need two
    records consistent with each other must tolerate a block in between (the
    gateway's owner checks do: ownership periods are only ever appended).
    """

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the committed value under ``key`` in ``store`` or ``None``."""
        try:
            doc = self.client.query(store, key)
        except NotFound:
            return None
        return bytes.fromhex(doc["value"])

    def set(self, store: str, key: bytes, value: bytes) -> None:
        """Refuse: the gateway never writes chain state."""
        raise ReadOnlyView("the chain view is read-only")

    def delete(self, store: str, key: bytes) -> None:
        """Refuse: the gateway never writes chain state."""
        raise ReadOnlyView("the chain view is read-only")
