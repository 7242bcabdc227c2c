"""``access fetch`` writes decrypted segments for this user only: a file already there with
a wider mode is narrowed, and a symlink planted at its name is not followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from carchain.cli.access_data import write_segments
from carchain.data.batches import decode_signed_header, decode_submitted
from carchain.sdk.requester import ReleasedSegment
from tests.conftest import seeded_key
from tests.dataplane import NOW_MS, make_car


def make_segment() -> ReleasedSegment:
    """Return a segment to write (no projection needed: the file's mode is the point)."""
    up = make_car("saic:files", seeded_key("custodian/saic")).upload(5, NOW_MS - 600_000)
    signed = decode_signed_header(decode_submitted(up.body).header)
    return ReleasedSegment(up.header_hash, "motion", signed, b"\x00" * 32, [])


def test_an_existing_wide_file_is_narrowed(tmp_path: Path) -> None:
    seg = make_segment()
    path = tmp_path / f"{seg.header_hash.hex()}-motion.json"
    path.write_text("old")
    path.chmod(0o644)
    write_segments(tmp_path, [seg])
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text() == "[]"


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    seg = make_segment()
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(target, out / f"{seg.header_hash.hex()}-motion.json")
    with pytest.raises(OSError):
        write_segments(out, [seg])
    assert target.read_text() == "untouched"
