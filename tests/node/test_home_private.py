"""A node home in a folder others can write: the lock file and the ABCI socket must
not be plantable by another user (symlink, hard link, their own file or socket).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from carchain.engine.abci.server import bind_unix_socket
from carchain.errors import ConfigError
from carchain.node.home import LOCK_FILE, HomeLock

OTHER_UID = 54321
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make another user's file")


def make_home(tmp_path: Path, mode: int = 0o700) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(mode)
    return home


def test_invalid_lock_file_planted_as_a_symlink_leaves_its_target_alone(tmp_path: Path) -> None:
    # Opening node.lock with O_CREAT follows a symlink: the old lock truncated the
    # target (say ~/.ssh/authorized_keys) and wrote its pid into it.
    home = make_home(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (home / LOCK_FILE).symlink_to(victim)
    with pytest.raises(ConfigError, match="cannot lock node home"):
        HomeLock(home)
    assert victim.read_text() == "precious\n"


def test_invalid_lock_file_hard_linked_to_another_file(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    os.link(victim, home / LOCK_FILE)
    with pytest.raises(ConfigError, match="private regular file"):
        HomeLock(home)
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o703])
def test_invalid_home_writable_by_other_users(tmp_path: Path, mode: int) -> None:
    home = make_home(tmp_path, mode)
    with pytest.raises(ConfigError, match="writable by other users"):
        HomeLock(home)
    assert not (home / LOCK_FILE).exists()
    home.chmod(0o755)
    with HomeLock(home):
        pass


@as_root
def test_invalid_lock_file_or_home_of_another_user(tmp_path: Path) -> None:
    # Another user's node.lock (which they could hold flocked forever) is not ours.
    home = make_home(tmp_path)
    (home / LOCK_FILE).write_text("")
    os.chown(home / LOCK_FILE, OTHER_UID, OTHER_UID)
    with pytest.raises(ConfigError, match="private regular file"):
        HomeLock(home)
    (home / LOCK_FILE).unlink()
    os.chown(home, OTHER_UID, OTHER_UID)
    with pytest.raises(ConfigError, match="belongs to another user"):
        HomeLock(home)


@as_root
def test_invalid_home_writable_by_a_shared_group(tmp_path: Path) -> None:
    # Group write is fine for the user's own group (umask 002), not for a shared one.
    home = make_home(tmp_path, 0o770)
    with HomeLock(home):
        pass
    os.chown(home, -1, OTHER_UID)
    with pytest.raises(ConfigError, match="writable by other users"):
        HomeLock(home)


def test_invalid_abci_socket_in_a_folder_others_can_write(tmp_path: Path) -> None:
    shared = make_home(tmp_path, 0o1777)
    with pytest.raises(ConfigError, match="writable by other users"):
        bind_unix_socket(shared / "abci.sock")
    assert not (shared / "abci.sock").exists()


@as_root
def test_invalid_socket_of_another_user_at_the_socket_path(tmp_path: Path) -> None:
    # A socket someone else left (or planted) is not replaced as if it were our stale one.
    home = make_home(tmp_path)
    path = home / "abci.sock"
    theirs = socket.socket(socket.AF_UNIX)
    try:
        theirs.bind(str(path))
        os.chown(path, OTHER_UID, OTHER_UID)
        with pytest.raises(ConfigError, match="not a socket of this user"):
            bind_unix_socket(path)
        assert path.stat().st_uid == OTHER_UID
    finally:
        theirs.close()
