"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import dataclasses
import enum
import errno
import functools
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import msgspec
import msgspec.structs
import typer
from rich.console import Console
from rich.text import Text
from typer.models import CommandFunctionType

from carchain.core.members import ROLE_NAMES
from carchain.crypto.signing import SigningKey
from carchain.errors import (
    CarchainError,
    CommitTimeout,
    InvalidOption,
    InvalidPublicKeyArg,
    KeyMissing,
    KeyringMissing,
    NotFound,
    PassphraseRequired,
    PortInUse,
    QuorumLost,
    TxPending,
    UnknownRole,
    compute_printable_text,
)
from carchain.sdk.account import Account
from carchain.sdk.client import DEFAULT_URL, Client
from carchain.sdk.keystore import load_key, load_public_key

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
ROLE_LIST = ", ".join(sorted(ROLE_NAMES))
ROLES_HELP = f"Comma-separated roles, each one of: {ROLE_LIST}."
# A network block is made every second (empty ones too): none for this long means no quorum.
STALLED_CHAIN_S = 5.0
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def compute_json_value(value: object) -> object:
    """Return ``value`` as JSON values: dataclasses and structs as objects, bytes as hex,
    enums as their value (what ``--json`` prints of the SDK's typed answers)."""
    if isinstance(value, msgspec.Struct):
        value = msgspec.structs.asdict(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): compute_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [compute_json_value(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, enum.Enum):
        return compute_json_value(value.value)
    return value


def emit_json(doc: object) -> None:
    """Print ``doc`` as indented, key-sorted JSON on stdout (the ``--json`` output)."""
    typer.echo(json.dumps(compute_json_value(doc), indent=1, sort_keys=True, default=str))


def make_text(value: object) -> Text:
    """Return a node's ``value`` as plain printable text: never read as rich markup
    (``[/bold]`` in a vehicle's model would raise), never a terminal control."""
    return Text(compute_printable_text(str(value)))


# The field that names what a ``not_found`` error is about, and how to say it.
_NOT_FOUND_NAMES = (
    ("vehicle_id", "vehicle {!r}"),
    ("member_id", "member {!r}"),
    ("proposal_id", "proposal {}"),
    ("case_id", "case {}"),
)


def compute_error_message(exc: CarchainError) -> tuple[str, str]:
    """Return the error's message and the field it names: a ``not_found`` names the thing
    (``vehicle 'saic-l' not found``) rather than a bare ``no such vehicle``."""
    if isinstance(exc, NotFound) and exc.message.startswith("no such "):
        for name, form in _NOT_FOUND_NAMES:
            value = exc.fields.get(name)
            if value is not None:
                return f"{form.format(value)} not found", name
    return exc.message, ""


def compute_error_line(exc: CarchainError) -> str:
    """Return the one line a typed error prints as: ``error <code>: <message> [k=v]...``."""
    message, named = compute_error_message(exc)
    fields = "".join(f" [{k}={v}]" for k, v in exc.to_json_fields().items() if k != named)
    return compute_printable_text(f"error {exc.code}: {message}{fields}")


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
        except CommitTimeout as exc:
            fail(explain_commit_timeout(exc, kwargs.get("node")))
        except CarchainError as exc:
            fail(exc)
        except OSError as exc:  # a file the user named: unreadable, unwritable, missing
            where = f"{exc.filename}: " if exc.filename else ""
            fail(InvalidOption(f"{where}{exc.strerror or exc}"))

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


def explain_commit_timeout(exc: CommitTimeout, node: object) -> CarchainError:
    """Return what a commit timeout means for the user: ``QuorumLost`` when the node's
    chain has stopped making blocks, else ``TxPending`` naming the hash to follow."""
    tx_hash = exc.tx_hash or ""
    follow = f"follow it with `carchain tx status {tx_hash}`" if tx_hash else "ask again later"
    stalled_s = get_chain_stall_s(node if isinstance(node, str) else DEFAULT_NODE)
    if stalled_s is not None:
        return QuorumLost(
            f"the network has made no block for {stalled_s:.0f} s: consensus lost its quorum "
            f"(too few validators running); transaction {tx_hash} waits in the mempool, "
            f"{follow} once `carchain network status` shows the quorum back"
        )
    return TxPending(
        f"transaction {tx_hash} was admitted but not committed in time; it may still commit: "
        + follow,
        tx_hash=tx_hash,
    )


def get_chain_stall_s(node: str) -> float | None:
    """Return for how long a CometBFT node's chain has made no block, if longer than
    ``STALLED_CHAIN_S`` (it makes one a second); ``None`` if it is live or unknown."""
    try:
        with client(node) as c:
            doc = c.status()
    except CarchainError:
        return None
    block_ms = doc.get("latest_block_time_ms")
    if doc.get("engine") != "cometbft" or not isinstance(block_ms, int) or block_ms <= 0:
        return None
    stalled_s = time.time() - block_ms / 1000
    return stalled_s if stalled_s > STALLED_CHAIN_S else None


def get_passphrase(confirm: bool = False) -> str:
    """Return the passphrase from ``$CARCHAIN_PASSPHRASE`` or a hidden prompt;
    ``PassphraseRequired`` when neither is there (no terminal to prompt on)."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if sys.stdin.isatty():
        return str(typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))
    # No terminal: a piped passphrase is one line (twice when it is confirmed).
    value = sys.stdin.readline().rstrip("\n")
    if not value:
        raise PassphraseRequired(f"no passphrase: set {PASSPHRASE_ENV} (no terminal to ask on)")
    if confirm and sys.stdin.readline().rstrip("\n") != value:
        raise PassphraseRequired("the two passphrases differ")
    return value


def key_path(keyring: Path, name: str) -> Path:
    """Return the file of key ``name``."""
    if not name or "/" in name or name.startswith("."):
        raise typer.BadParameter("key names are plain file names")
    return keyring / f"{name}.json"


def get_existing_key_path(keyring: Path, name: str) -> Path:
    """Return the file of key ``name``; ``KeyringMissing`` or ``KeyMissing`` if absent."""
    path = key_path(keyring, name)
    if not keyring.is_dir():
        raise KeyringMissing(
            f"no keyring at {keyring}: set CARCHAIN_KEYRING or --keyring to your key folder, "
            "or create a key with `carchain keys new NAME`",
            keyring=str(keyring),
        )
    if not path.exists():
        raise KeyMissing(
            f"no key named {name!r} in {keyring} (`carchain keys list` shows them)",
            key=name,
            keyring=str(keyring),
        )
    return path


def unlock(keyring: Path, name: str) -> SigningKey:
    """Load and decrypt a named key."""
    return load_key(get_existing_key_path(keyring, name), get_passphrase())


def resolve_public_key(value: str, keyring: Path, option: str) -> bytes:
    """Return the public key ``value`` gives: 32 bytes of hex, or the name of a key in
    the keyring (as ``--key`` takes it)."""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) == 32:
        return raw
    if not value or "/" in value or value.startswith(".") or len(value) == 64:
        raise InvalidPublicKeyArg(
            f"{option} takes a public key (64 hex digits) or a key name", option=option
        )
    return load_public_key(get_existing_key_path(keyring, value))


def parse_roles(roles: str) -> list[str]:
    """Return the comma-separated ``roles`` sorted; ``UnknownRole`` naming the valid ones."""
    names = sorted({r.strip() for r in roles.split(",") if r.strip()})
    for name in names:
        if name not in ROLE_NAMES:
            raise UnknownRole(f"unknown role {name!r}; valid roles: {ROLE_LIST}", role=name)
    return names


def check_port_free(port: int, host: str = "127.0.0.1") -> None:
    """Refuse to start a server on a loopback port another process listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PortInUse(
                f"port {port} on {host} is in use by another process: stop it or give --port",
                port=port,
            ) from None


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


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only: 0600 also when the file was
    there before (its old mode is not kept), never through a planted symlink."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
