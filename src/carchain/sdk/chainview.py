"""A read-only view of a node's committed state over its query API.

The gateway, the SDK and the CLI read chain records through core's own readers
(``get_vehicle``, ``get_anchor``, ...) over this view, so the keying and decoding
of every record is written once, in core.
"""

from __future__ import annotations

from carchain.core.state import ReadOnlyKVView
from carchain.errors import NotFound, ReadOnlyState
from carchain.sdk.client import Client

__all__ = ["ChainView", "ReadOnlyState"]


class ChainView(ReadOnlyKVView):
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
