"""``CommitSignal``: a commit on another thread wakes a waiter on its loop; a waiter
whose height is already reached returns at once; a timeout returns the height then."""

from __future__ import annotations

import asyncio
import threading
import time

from carchain.node.commit_signal import CommitSignal


def test_notify_from_another_thread_wakes_the_waiter() -> None:
    signal, height = CommitSignal(), [0]
    result: list[int] = []

    def wait() -> None:
        result.append(asyncio.run(signal.wait_for_height(1, lambda: height[0], 30)))

    waiter = threading.Thread(target=wait)
    started = time.monotonic()
    waiter.start()
    while not signal._waiters:  # registered: the commit below cannot be missed
        time.sleep(0.005)
    height[0] = 1
    signal.notify()
    waiter.join(30)
    assert result == [1] and time.monotonic() - started < 10


def test_reached_height_returns_at_once_and_timeout_returns_the_current_height() -> None:
    signal = CommitSignal()
    assert asyncio.run(signal.wait_for_height(3, lambda: 5, 30)) == 5
    started = time.monotonic()
    assert asyncio.run(signal.wait_for_height(9, lambda: 5, 0.05)) == 5
    assert time.monotonic() - started < 5
    assert not signal._waiters  # the waiter unregistered
