"""Where the ABCI server listens: a Unix socket in the node home (the default) or
a loopback TCP port (an explicit option), written as CometBFT's ``proxy_app``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from carchain.errors import ConfigError
from carchain.netaddr import validate_loopback

ABCI_SOCKET_NAME = "abci.sock"
# sun_path holds 108 bytes on Linux, terminating NUL included.
MAX_UNIX_PATH_BYTES = 107


@dataclass(frozen=True, slots=True)
class AbciAddress:
    """A Unix socket path, or a loopback host and port."""

    path: Path | None = None
    host: str = ""
    port: int = 0

    @property
    def is_unix(self) -> bool:
        """Return whether this is a Unix domain socket."""
        return self.path is not None

    def format(self) -> str:
        """Return the address as CometBFT's ``proxy_app`` writes it."""
        if self.path is not None:
            return f"unix://{self.path}"
        return f"tcp://{self.host}:{self.port}"


def compute_unix_address(home: Path) -> AbciAddress:
    """Return the default address: ``abci.sock`` in the (absolute) node home."""
    return parse_abci_address(f"unix://{(home / ABCI_SOCKET_NAME).resolve()}")


def parse_abci_address(text: str) -> AbciAddress:
    """Parse ``unix:///abs/path`` or ``tcp://127.0.0.1:PORT``; refuse anything else."""
    if text.startswith("unix://"):
        path = Path(text[len("unix://") :])
        if not path.is_absolute():
            raise ConfigError("the ABCI socket path must be absolute", address=text)
        if len(str(path).encode()) > MAX_UNIX_PATH_BYTES:
            raise ConfigError("the ABCI socket path is too long for a Unix socket", address=text)
        return AbciAddress(path=path)
    if text.startswith("tcp://"):
        host, sep, port = text[len("tcp://") :].rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError("expected tcp://HOST:PORT", address=text)
        host = host.strip("[]")
        validate_loopback(host)
        return AbciAddress(host=host, port=int(port))
    raise ConfigError("an ABCI address is unix://PATH or tcp://HOST:PORT", address=text[:100])
