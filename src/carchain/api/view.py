"""A read-only ``KVView`` over the node backend, so routes use core's own readers."""

from __future__ import annotations

from carchain.core.state import ReadOnlyKVView
from carchain.core.types import OK_RESULT_CODE
from carchain.node.backend import NodeBackend


class BackendView(ReadOnlyKVView):
    """``KVView`` over a backend's committed state at its latest height; refuses writes."""

    def __init__(self, backend: NodeBackend) -> None:
        self.backend = backend

    def get(self, store: str, key: bytes) -> bytes | None:
        """Return the committed value under ``key`` in ``store`` or ``None``."""
        q = self.backend.query(store, key, False)
        return q.value if q.code == OK_RESULT_CODE else None
