"""The lock around signing with the OEM key, shared by every instance of a gateway.

The anchoring loop, the custody loop and the V2X report relay sign with the one OEM
key, so with one nonce sequence: each resyncs the nonce, signs and sends under this
lock. It is a thread lock and an ``flock`` on ``<data>/signing.lock``, so the
instances of one OEM that share a data folder (``lease``) never sign two
transactions with one nonce either. The kernel drops an ``flock`` with its process,
so a killed instance never leaves it held.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from carchain.storage.segment_files import StoreLock


class SigningLock:
    """A ``with`` lock over threads and over processes sharing ``path``."""

    def __init__(self, path: Path) -> None:
        self._lock = StoreLock(path)
        self._held: list[ExitStack] = []

    def __enter__(self) -> SigningLock:
        stack = ExitStack()
        stack.enter_context(self._lock.held())
        self._held.append(stack)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._held.pop().close()

    def close(self) -> None:
        """Close the lock file."""
        self._lock.close()
