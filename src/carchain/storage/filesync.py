"""Making many new files durable at once: ``syncfs(2)`` on the file system holding them.

Writing a group of files with one ``fsync`` each costs a device flush per file (and,
in a threaded server, the GIL handed over and taken back per call). Linux's
``syncfs`` writes back and flushes everything dirty on one file system in one call,
which makes a whole group durable for the price of about one flush. Where it is not
available (not Linux, no libc symbol, an error), ``sync_filesystem`` says so and the
caller falls back to one ``fsync`` per file.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import cache
from pathlib import Path
from typing import Any


@cache
def load_syncfs() -> Any | None:
    """Return libc's ``syncfs`` function, or ``None`` where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        func = libc.syncfs
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int]
    func.restype = ctypes.c_int
    return func


def can_sync_filesystem() -> bool:
    """Return whether ``sync_filesystem`` can flush a whole file system here."""
    return load_syncfs() is not None


def sync_filesystem(path: Path) -> bool:
    """Flush the file system holding ``path`` (data and metadata, to the device); return
    ``False`` if that is not possible here (the caller then fsyncs file by file)."""
    func = load_syncfs()
    if func is None:
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        return int(func(fd)) == 0
    finally:
        os.close(fd)
