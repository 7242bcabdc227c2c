"""Private folders: a node's home, lock and socket folder belong to this user alone."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from carchain.errors import ConfigError


def validate_private_dir(path: Path, what: str, action: str = "use") -> None:
    """Raise ``ConfigError`` unless ``path`` is a directory of this user that no other
    user may write: in a shared folder another user could plant the lock file or the
    ABCI socket (a symlink to one of our files, a lock they hold, a socket they serve).

    Group write is accepted only for the user's own primary group (the per-user
    group of a ``umask 002`` system), never for a shared one.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ConfigError(f"cannot {action} {what} {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{what} is not a directory", path=str(path))
    if st.st_uid != os.geteuid():
        raise ConfigError(f"{what} belongs to another user", path=str(path), uid=st.st_uid)
    shared_group = st.st_mode & stat.S_IWGRP and st.st_gid != os.getegid()
    if st.st_mode & stat.S_IWOTH or shared_group:
        raise ConfigError(
            f"{what} is writable by other users (chmod go-w)",
            path=str(path),
            mode=oct(stat.S_IMODE(st.st_mode)),
        )
