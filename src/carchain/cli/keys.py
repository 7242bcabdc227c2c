"""``carchain keys``: create and inspect encrypted keys."""

from __future__ import annotations

import typer
from rich.table import Table

from carchain.cli.common import (
    DEFAULT_KEYRING,
    CarchainTyper,
    JsonOpt,
    KeyringOpt,
    console,
    emit_json,
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
def show(name: str, keyring: KeyringOpt = DEFAULT_KEYRING, as_json: JsonOpt = False) -> None:
    """Print a key's public key (no passphrase needed)."""
    public_key = load_public_key(get_existing_key_path(keyring, name)).hex()
    if as_json:
        emit_json({"name": name, "public_key": public_key})
        return
    console.print(public_key, soft_wrap=True)


@app.command("list")
def list_keys(keyring: KeyringOpt = DEFAULT_KEYRING, as_json: JsonOpt = False) -> None:
    """List the keys in the keyring."""
    rows: list[dict[str, str | None]] = []
    for path in sorted(keyring.glob("*.json")) if keyring.exists() else []:
        try:
            rows.append({"name": path.stem, "public_key": load_public_key(path).hex()})
        except CarchainError:
            rows.append({"name": path.stem, "public_key": None})
    if as_json:
        emit_json({"keyring": str(keyring), "keys": rows})
        return
    table = Table("name", "public key")
    for row in rows:
        table.add_row(row["name"], row["public_key"] or "[red]unreadable key file[/red]")
    console.print(table)
