"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import msgspec
import typer
from rich.console import Console
from rich.text import Text
from typer.models import CommandFunctionType

from carchain.crypto.signing import SigningKey
from carchain.errors import CarchainError, compute_printable_text
from carchain.sdk.account import Account
from carchain.sdk.client import DEFAULT_URL, Client
from carchain.sdk.keystore import load_key

P = ParamSpec("P")
R = TypeVar("R")

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
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def emit_json(doc: object) -> None:
    """Print ``doc`` as indented, key-sorted JSON on stdout (the ``--json`` output)."""
    typer.echo(json.dumps(doc, indent=1, sort_keys=True, default=str))


def make_text(value: object) -> Text:
    """Return a node's ``value`` as plain printable text: never read as rich markup
    (``[/bold]`` in a vehicle's model would raise), never a terminal control."""
    return Text(compute_printable_text(str(value)))


def compute_error_line(exc: CarchainError) -> str:
    """Return the one line a typed error prints as: ``error <code>: <message> [k=v]...``."""
    fields = "".join(f" [{k}={v}]" for k, v in exc.to_json_fields().items())
    return compute_printable_text(f"error {exc.code}: {exc.message}{fields}")


def fail(exc: CarchainError) -> NoReturn:
    """Print a typed error as one line on stderr and exit with status 1."""
    err_console.print(compute_error_line(exc), markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Return ``command`` with its typed errors turned into one line and exit status 1."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CarchainError as exc:
            fail(exc)

    return run


class CarchainTyper(typer.Typer):
    """A Typer app whose every command reports a ``CarchainError`` through ``fail``.

    The one error handler of the CLI: commands just raise.
    """

    def command(
        self, name: str | None = None, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        """Register a command as ``typer.Typer.command`` does, wrapped in ``handle_errors``."""
        register = super().command(name, **kwargs)

        def decorator(f: CommandFunctionType) -> CommandFunctionType:
            register(handle_errors(f))
            return f

        return decorator


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
    return load_key(path, get_passphrase())


def client(node: str) -> Client:
    """Return a client for ``node``."""
    return Client(node)


def send_body(node: str, keyring: Path, key: str, body: msgspec.Struct) -> dict[str, Any]:
    """Sign ``body`` with the named key, submit it and wait for its block."""
    with client(node) as c:
        return Account(c, unlock(keyring, key)).send(body)


def get_event_attribute(res: dict[str, Any], event_type: str, name: str, default: str = "") -> str:
    """Return an attribute of the first ``event_type`` event of a committed result
    (``default`` if there is none or the node's answer is not the expected shape)."""
    result = res.get("result")
    events = result.get("events") if isinstance(result, dict) else None
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict) or event.get("type") != event_type:
            continue
        attrs = event.get("attributes")
        return str(attrs.get(name, default)) if isinstance(attrs, dict) else default
    return default


def parse_hex_option(value: str, what: str, size: int = 32) -> bytes:
    """Parse a hex option or fail with a clear message."""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise typer.BadParameter(f"{what} must be hex") from None
    if len(raw) != size:
        raise typer.BadParameter(f"{what} must be {size} bytes")
    return raw
