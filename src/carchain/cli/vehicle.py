"""``carchain vehicle``: register, transfer, rotate keys, revoke, show, check a VIN."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from carchain.cli.access_log import access_log, access_log_verify
from carchain.cli.common import (
    DEFAULT_KEYRING,
    DEFAULT_NODE,
    CarchainTyper,
    JsonOpt,
    KeyOpt,
    KeyringOpt,
    NodeOpt,
    client,
    console,
    emit_json,
    make_text,
    parse_hex_option,
    resolve_public_key,
    send_body,
    unlock,
    write_private,
)
from carchain.core import vehicles as veh
from carchain.sdk.chainview import ChainView
from carchain.sdk.transactions import sign_rotation_consent, sign_transfer_consent
from carchain.sdk.vin import (
    VIN_SALT_SIZE,
    CheckDigit,
    compute_vin_commitment,
    compute_vin_salt,
    verify_vin_commitment,
)

app = CarchainTyper(help="The vehicle registry (OEMs register their own vehicles).")
app.command("access-log")(access_log)
app.command("access-log-verify")(access_log_verify)
VehicleOpt = Annotated[
    str,
    typer.Option("--vehicle-id", help="Vehicle id <oem member id>:<local id> (not the VIN)."),
]
OwnerKeyOpt = Annotated[str, typer.Option(help="Current owner's key name (co-signs).")]
OwnerSigOpt = Annotated[str, typer.Option(help="Owner's co-signature (hex), instead.")]


def _get_vehicle_and_chain(node: str, vehicle_id: str) -> tuple[dict[str, Any], str]:
    with client(node) as c:
        return c.vehicle(vehicle_id), str(c.status()["chain_id"])


@app.command("register")
def register(
    vehicle_id: VehicleOpt,
    vin: Annotated[str, typer.Option(help="The VIN; only a salted commitment goes on chain.")],
    public_key: Annotated[str, typer.Option(help="Vehicle Ed25519 public key (hex).")],
    owner: Annotated[
        str, typer.Option(help="Owner's account: public key (hex) or key name, as --key.")
    ],
    model: Annotated[str, typer.Option(help="Model name, e.g. Roewe RX5.")],
    year: Annotated[int, typer.Option(help="Model year.")],
    key: KeyOpt,
    vin_check_digit: Annotated[
        CheckDigit, typer.Option(help="Check the VIN's position-9 check digit: auto = by region.")
    ] = CheckDigit.AUTO,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
    salt_out: Annotated[
        Path | None, typer.Option(help="Also write the VIN salt (hex) to this file (0600).")
    ] = None,
) -> None:
    """Register a vehicle in your OEM's namespace. Prints the VIN salt: keep it off chain."""
    salt = compute_vin_salt()
    veh.validate_vehicle_id(vehicle_id)
    commitment = compute_vin_commitment(vin, salt, vin_check_digit)
    body = veh.RegisterVehicle(
        vehicle_id=vehicle_id,
        vin_commitment=commitment,
        public_key=parse_hex_option(public_key, "public key"),
        model=model,
        year=year,
        owner=resolve_public_key(owner, keyring, "--owner"),
    )
    res = send_body(node, keyring, key, body)
    if salt_out is not None:
        write_private(salt_out, salt.hex() + "\n")
    console.print(f"[green]registered[/green] {vehicle_id} at height {res['height']}")
    console.print(f"VIN salt (store it with the VIN, never on chain): {salt.hex()}", soft_wrap=True)


@app.command("transfer")
def transfer(
    vehicle_id: VehicleOpt,
    new_owner: Annotated[
        str, typer.Option(help="New owner's account: public key (hex) or key name, as --key.")
    ],
    key: KeyOpt,
    owner_key: OwnerKeyOpt = "",
    owner_signature: OwnerSigOpt = "",
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Transfer ownership: signed by the OEM, consented to by the current owner."""
    new = resolve_public_key(new_owner, keyring, "--new-owner")
    sig = _get_owner_consent(
        owner_key, owner_signature, lambda k: _sign_transfer(node, keyring, k, vehicle_id, new)
    )
    res = send_body(node, keyring, key, veh.TransferVehicle(vehicle_id, new, sig))
    console.print(f"[green]transferred[/green] {vehicle_id} at height {res['height']}")


@app.command("rotate-key")
def rotate_key(
    vehicle_id: VehicleOpt,
    public_key: Annotated[str, typer.Option(help="New vehicle public key (hex).")],
    key: KeyOpt,
    owner_key: OwnerKeyOpt = "",
    owner_signature: OwnerSigOpt = "",
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Replace a vehicle's key: signed by the OEM, co-signed by the current owner."""
    new = parse_hex_option(public_key, "public key")
    sig = _get_owner_consent(
        owner_key, owner_signature, lambda k: _sign_rotation(node, keyring, k, vehicle_id, new)
    )
    res = send_body(node, keyring, key, veh.RotateVehicleKey(vehicle_id, new, sig))
    console.print(f"[green]rotated[/green] {vehicle_id} at height {res['height']}")


def _get_owner_consent(owner_key: str, owner_signature: str, sign: Callable[[str], bytes]) -> bytes:
    """Return the owner's co-signature: made now by ``sign(owner_key)``, or as given in hex."""
    if bool(owner_key) == bool(owner_signature):
        raise typer.BadParameter("give exactly one of --owner-key and --owner-signature")
    if owner_key:
        return sign(owner_key)
    return parse_hex_option(owner_signature, "owner signature", 64)


def _sign_transfer(node: str, keyring: Path, owner_key: str, vehicle_id: str, new: bytes) -> bytes:
    v, chain_id = _get_vehicle_and_chain(node, vehicle_id)
    owner = unlock(keyring, owner_key)
    return sign_transfer_consent(chain_id, owner, vehicle_id, new, int(v["transfer_seq"]))


def _sign_rotation(node: str, keyring: Path, owner_key: str, vehicle_id: str, new: bytes) -> bytes:
    v, chain_id = _get_vehicle_and_chain(node, vehicle_id)
    owner = unlock(keyring, owner_key)
    version, seq = int(v["key_version"]) + 1, int(v["transfer_seq"])
    return sign_rotation_consent(chain_id, owner, vehicle_id, new, version, seq)


@app.command("consent-rotate")
def consent_rotate(
    vehicle_id: VehicleOpt,
    public_key: Annotated[str, typer.Option(help="The new vehicle public key (hex).")],
    owner_key: Annotated[str, typer.Option(help="Your (the current owner's) key name.")],
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As the owner, sign consent to rotate to this key; the OEM sends it (--owner-signature)."""
    new = parse_hex_option(public_key, "public key")
    sig = _sign_rotation(node, keyring, owner_key, vehicle_id, new)
    console.print(sig.hex(), soft_wrap=True, markup=False, highlight=False)


@app.command("keys")
def keys(vehicle_id: str, node: NodeOpt = DEFAULT_NODE, as_json: JsonOpt = False) -> None:
    """Show a vehicle's key history: each key version and the block times it was valid."""
    table = Table("version", "public key", "since ms", "until ms")
    with client(node) as c:
        history = veh.get_key_history(ChainView(c), vehicle_id)
    if as_json:
        emit_json({"vehicle_id": vehicle_id, "keys": history})
        return
    for p in history:
        table.add_row(
            str(p.key_version), p.public_key.hex(), str(p.since_ms), str(p.until_ms or "current")
        )
    console.print(table)


@app.command("revoke")
def revoke(
    vehicle_id: VehicleOpt,
    reason: Annotated[str, typer.Option(help="Why (e.g. scrapped, stolen, key compromised).")],
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Revoke a vehicle for good."""
    res = send_body(node, keyring, key, veh.RevokeVehicle(vehicle_id, reason))
    console.print(f"[yellow]revoked[/yellow] {vehicle_id} at height {res['height']}")


@app.command("show")
def show(vehicle_id: str, node: NodeOpt = DEFAULT_NODE, as_json: JsonOpt = False) -> None:
    """Show a vehicle's registration."""
    with client(node) as c:
        v = c.vehicle(vehicle_id)
    if as_json:
        emit_json(v)
        return
    table = Table("field", "value")
    for k, val in v.items():
        table.add_row(make_text(k), make_text(val))
    console.print(table)


@app.command("check-vin")
def check_vin(
    vehicle_id: VehicleOpt,
    vin: Annotated[str, typer.Option(help="The VIN to check against the on-chain commitment.")],
    salt: Annotated[str, typer.Option(help="The VIN salt printed at registration (hex).")],
    node: NodeOpt = DEFAULT_NODE,
    as_json: JsonOpt = False,
) -> None:
    """Check that a VIN and its salt open a vehicle's on-chain VIN commitment."""
    salt_bytes = parse_hex_option(salt, "salt", VIN_SALT_SIZE)
    with client(node) as c:
        v = c.vehicle(vehicle_id)
        verify_vin_commitment(bytes.fromhex(str(v["vin_commitment"])), vin, salt_bytes)
    if as_json:
        emit_json({"vehicle_id": vehicle_id, "vin_matches": True})
        return
    console.print(f"[green]VIN matches[/green] the commitment of {vehicle_id}")
