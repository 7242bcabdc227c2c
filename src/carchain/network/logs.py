"""Reading a localnet node's log files (``node<i>/app.log``, ``node<i>/comet.log``):
the last lines, and following new ones as they are written."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from carchain.errors import NetworkError
from carchain.network.layout import NetworkLayout, NodeLayout

LogKind = Literal["app", "comet"]
CHUNK = 64 * 1024
FOLLOW_POLL_S = 0.2


def get_log_path(layout: NetworkLayout, node: NodeLayout, kind: LogKind = "app") -> Path:
    """Return the node's application (``app``) or CometBFT (``comet``) log file."""
    return layout.get_node_dir(node) / f"{kind}.log"


def read_last_lines(path: Path, count: int) -> tuple[list[str], int]:
    """Return the last ``count`` lines of ``path`` and the file size they end at.

    Reads backwards in chunks, so a large log costs only what is shown.
    Raises ``NetworkError`` if the node has written no log yet.
    """
    if count < 0:
        raise NetworkError("--lines must be at least 0")
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            data = b""
            pos = size
            while pos > 0 and data.count(b"\n") <= count:
                step = min(CHUNK, pos)
                pos -= step
                f.seek(pos)
                data = f.read(step) + data
    except FileNotFoundError:
        raise NetworkError("no log yet for this node (never started?)", home=str(path)) from None
    lines = data.decode("utf-8", "replace").splitlines()
    return (lines[-count:] if count else []), size


def follow_lines(
    path: Path,
    offset: int,
    should_stop: Callable[[], bool] = lambda: False,
    poll_s: float = FOLLOW_POLL_S,
) -> Iterator[str]:
    """Yield each complete line appended to ``path`` after byte ``offset`` until
    ``should_stop()``; start over from the top if the file is truncated."""
    pending = b""
    while not should_stop():
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < offset:
            offset, pending = 0, b""
        if size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read(size - offset)
            offset += len(chunk)
            *complete, pending = (pending + chunk).split(b"\n")
            for line in complete:
                yield line.decode("utf-8", "replace")
            continue
        time.sleep(poll_s)
