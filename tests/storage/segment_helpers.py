"""Helpers for the segment blob store tests: sample blobs and the raw bytes on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

from carchain.storage.segment_files import list_segment_files


def make_blob(tag: str, size: int = 4800) -> bytes:
    """Return ``size`` pseudo-random bytes determined by ``tag`` (a sealed batch stand-in)."""
    seed = hashlib.sha256(tag.encode()).digest()
    return (seed * (size // 32 + 1))[:size]


def read_all_segments(root: Path) -> bytes:
    """Return every segment file's raw bytes, concatenated."""
    return b"".join(p.read_bytes() for _, p in sorted(list_segment_files(root).items()))


def count_files(root: Path) -> int:
    """Return how many files lie under ``root``."""
    return sum(1 for p in root.rglob("*") if p.is_file())
