"""``write_private``: the CLI's files of secrets (a VIN salt, a statement) are 0600, also
over a file that was there with a wider mode, and never written through a symlink."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from carchain.cli.common import write_private


def test_a_new_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "salt"
    write_private(path, "ab\n")
    assert path.read_text() == "ab\n" and path.stat().st_mode & 0o777 == 0o600


def test_an_existing_wide_file_is_narrowed_and_truncated(tmp_path: Path) -> None:
    path = tmp_path / "salt"
    path.write_text("an older, longer content")
    path.chmod(0o644)
    write_private(path, "ab\n")
    assert path.read_text() == "ab\n" and path.stat().st_mode & 0o777 == 0o600


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    os.symlink(target, tmp_path / "salt")
    with pytest.raises(OSError):
        write_private(tmp_path / "salt", "ab\n")
    assert target.read_text() == "untouched"
