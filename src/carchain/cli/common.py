"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from carchain.crypto.signing import SigningKey
from carchain.errors import CarchainError
from carchain.sdk.client import DEFAULT_URL, Client
from carchain.sdk.keystore import load_key

console = Console()
err_console = Console(stderr=True)

DEFAULT_KEYRING = Path(os.environ.get("CARCHAIN_KEYRING", str(Path.home() / ".carchain" / "keys")))
PASSPHRASE_ENV = "CARCHAIN_PASSPHRASE"

NodeOpt = Annotated[str, typer.Option("--node", envvar="CARCHAIN_NODE", help="Node API URL.")]
KeyringOpt = Annotated[
    Path, typer.Option("--keyring", envvar="CARCHAIN_KEYRING", help="Folder of key files.")
]
KeyOpt = Annotated[str, typer.Option("--key", "-k", help="Name of the signing key.")]
DEFAULT_NODE = DEFAULT_URL


def fail(exc: CarchainError) -> NoReturn:
    """Print a typed error and exit with status 1."""
    err_console.print(f"[red]error[/red] [bold]{exc.code}[/bold]: {exc.message}")
    for k, v in exc.fields.items():
        err_console.print(f"  {k}: {v}")
    raise typer.Exit(1)


def get_passphrase(confirm: bool = False) -> str:
    """Return the passphrase from ``$CARCHAIN_PASSPHRASE`` or a hidden prompt."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    return str(typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))


def key_path(keyring: Path, name: str) -> Path:
    """Return the file of key ``name``."""
    if not name or "/" in name or name.startswith("."):
        raise typer.BadParameter("key names are plain file names")
    return keyring / f"{name}.json"


def unlock(keyring: Path, name: str) -> SigningKey:
    """Load and decrypt a named key."""
    path = key_path(keyring, name)
    if not path.exists():
        raise typer.BadParameter(f"no key named {name!r} in {keyring}")
    try:
        return load_key(path, get_passphrase())
    except CarchainError as exc:
        fail(exc)


def client(node: str) -> Client:
    """Return a client for ``node``."""
    return Client(node)


def parse_hex_option(value: str, what: str, size: int = 32) -> bytes:
    """Parse a hex option or fail with a clear message."""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise typer.BadParameter(f"{what} must be hex") from None
    if len(raw) != size:
        raise typer.BadParameter(f"{what} must be {size} bytes")
    return raw
