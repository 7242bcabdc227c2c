"""A node's home folder: config, genesis and data, and the lock that keeps it to one process."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from carchain.core.genesis import Genesis, decode_genesis, encode_genesis
from carchain.errors import ConfigError as ConfigError
from carchain.errors import HomeLocked as HomeLocked
from carchain.netaddr import validate_loopback as validate_loopback
from carchain.privatefs import validate_private_dir as validate_private_dir
from carchain.storage.history import DEFAULT_STATE_VERSIONS, validate_state_versions

DEFAULT_API_HOST = "127.0.0.1"
DEFAULT_API_PORT = 8700
LOCK_FILE = "node.lock"


class HomeLock:
    """An exclusive ``flock`` on ``<home>/node.lock``, held until ``release`` or process exit.

    The kernel drops the lock when the process dies, however it dies, so a
    crashed node never leaves a stale lock behind (a pid file would).
    """

    def __init__(self, home: Path) -> None:
        self.path = home / LOCK_FILE
        validate_private_dir(home, "node home", action="lock")
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot lock node home {home}: {exc.strerror}") from None
        try:
            validate_own_file(os.fstat(fd), self.path)
        except ConfigError:
            os.close(fd)
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            raise HomeLocked(f"node home in use by {holder}; stop that node first") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> HomeLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def validate_own_file(st: os.stat_result, path: Path) -> None:
    """Raise ``ConfigError`` unless ``st`` is a regular file of this user with one link
    (not a hard link to a file elsewhere).
    """
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_nlink != 1:
        raise ConfigError("lock file is not a private regular file of this user", path=str(path))


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip())
        return f"pid {pid}"
    return "another process"


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """What ``config.json`` holds."""

    chain_id: str
    engine: str = "solo"
    api_host: str = DEFAULT_API_HOST
    api_port: int = DEFAULT_API_PORT
    block_interval_ms: int = 200
    max_block_txs: int = 5_000
    # Committed heights kept for queries and proofs (the latest and those before it).
    state_versions: int = DEFAULT_STATE_VERSIONS


def validate_config(config: NodeConfig) -> None:
    """Raise ``ConfigError`` unless the configuration is usable."""
    validate_loopback(config.api_host)
    try:
        validate_state_versions(config.state_versions)
    except ValueError as exc:
        raise ConfigError(str(exc), state_versions=config.state_versions) from exc


class NodeHome:
    """Paths and files of one node."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.config_path = path / "config.json"
        self.genesis_path = path / "genesis.json"
        self.data_dir = path / "data"
        self.db_path = self.data_dir / "state.db"

    def lock(self) -> HomeLock:
        """Take the home's exclusive lock for this process; raise ``HomeLocked`` if held."""
        return HomeLock(self.path)

    def exists(self) -> bool:
        """Return whether the home was initialised."""
        return self.config_path.exists() and self.genesis_path.exists()

    def create(self, genesis: Genesis, config: NodeConfig) -> None:
        """Write config and genesis; refuse to overwrite an initialised home."""
        if self.exists():
            raise ConfigError("node home already initialised", path=str(self.path))
        validate_config(config)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.genesis_path.write_bytes(encode_genesis(genesis))
        self.config_path.write_text(json.dumps(asdict(config), indent=2))

    def load_config(self) -> NodeConfig:
        """Read ``config.json``."""
        try:
            cfg = NodeConfig(**json.loads(self.config_path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"cannot read {self.config_path}: {exc}") from exc
        validate_config(cfg)
        return cfg

    def load_genesis(self) -> Genesis:
        """Read ``genesis.json``."""
        try:
            return decode_genesis(self.genesis_path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read {self.genesis_path}: {exc}") from exc
