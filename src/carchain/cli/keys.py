"""``carchain keys``: create and inspect encrypted keys."""

from __future__ import annotations

import typer
from rich.table import Table

from carchain.cli.common import (
    DEFAULT_KEYRING,
    CarchainTyper,
    KeyringOpt,
    console,
    get_existing_key_path,
    get_passphrase,
    key_path,
)
from carchain.crypto.signing import SigningKey
from carchain.errors import CarchainError
from carchain.sdk.keystore import load_public_key, save_key, validate_new_passphrase

app = CarchainTyper(help="Create and list keys (stored encrypted with a passphrase).")


@app.command("new")
def new(name: str, keyring: KeyringOpt = DEFAULT_KEYRING) -> None:
    """Create a new Ed25519 key, encrypted at rest under a passphrase."""
    path = key_path(keyring, name)
    if path.exists():
        raise typer.BadParameter(f"key {name!r} already exists")
    passphrase = get_passphrase(confirm=True)
    validate_new_passphrase(passphrase)
    key = SigningKey.generate()
    save_key(path, key, passphrase)
    console.print(
        f"[green]created[/green] {name}  public key {key.public_key.hex()}", soft_wrap=True
    )


@app.command("show")
def show(name: str, keyring: KeyringOpt = DEFAULT_KEYRING) -> None:
    """Print a key's public key (no passphrase needed)."""
    console.print(load_public_key(get_existing_key_path(keyring, name)).hex(), soft_wrap=True)


@app.command("list")
def list_keys(keyring: KeyringOpt = DEFAULT_KEYRING) -> None:
    """List the keys in the keyring."""
    table = Table("name", "public key")
    for path in sorted(keyring.glob("*.json")) if keyring.exists() else []:
        try:
            table.add_row(path.stem, load_public_key(path).hex())
        except CarchainError:
            table.add_row(path.stem, "[red]unreadable key file[/red]")
    console.print(table)
