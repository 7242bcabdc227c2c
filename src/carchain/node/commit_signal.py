"""Waking asyncio waiters when a block commits, from whichever thread commits it.

The solo node commits on its event loop, or from a test's thread; the network
backend's commit listener runs on the loop serving ABCI. Event-stream followers
wait on their own loop. ``CommitSignal.notify`` wakes every waiter through its
loop's ``call_soon_threadsafe``, so a follower sleeps until a block lands instead
of polling the height.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable


class CommitSignal:
    """A broadcast "a block committed" for coroutines on any event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def notify(self) -> None:
        """Wake every coroutine waiting now (callable from any thread)."""
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(event.set)

    async def wait_for_height(
        self, height: int, get_height: Callable[[], int], timeout_s: float
    ) -> int:
        """Return the committed height once it is at least ``height``, or after
        ``timeout_s`` (whatever it is then). ``get_height`` reads the committed height.

        The waiter registers before it reads the height, so a commit between the
        read and the wait still wakes it.
        """
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(waiter)
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_s
            while True:
                waiter[1].clear()  # before the read: a commit after it sets the event again
                current = get_height()
                remaining = deadline - loop.time()
                if current >= height or remaining <= 0:
                    return current
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter[1].wait(), remaining)
        finally:
            with self._lock:
                self._waiters.discard(waiter)
