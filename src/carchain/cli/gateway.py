"""``carchain gateway``: set up and run an OEM ingest gateway, list batches, build proofs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from carchain.cli.common import (
    DEFAULT_KEYRING,
    DEFAULT_NODE,
    CarchainTyper,
    JsonOpt,
    KeyringOpt,
    NodeOpt,
    check_port_free,
    console,
    emit_json,
    get_existing_key_path,
    get_passphrase,
    key_path,
    make_text,
    unlock,
)
from carchain.cli.log_format import LogFormatOpt, parse_log_format, setup_logging
from carchain.data.batches import decode_signed_header, open_batch_segments
from carchain.data.custody import open_batch_category_keys
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.keystore import load_public_key
from carchain.sdk.record_proofs import build_record_proof

app = CarchainTyper(help="An OEM's ingest gateway: verify, store and anchor vehicle data batches.")
HomeOpt = Annotated[Path, typer.Option("--home", help="Gateway home folder.")]
DEFAULT_GATEWAY = "http://127.0.0.1:8710"
GatewayOpt = Annotated[
    str, typer.Option("--gateway", envvar="CARCHAIN_GATEWAY", help="Gateway API URL.")
]


CustodyOpt = Annotated[
    bool,
    typer.Option(
        "--custody/--no-custody",
        help="Run the custody service: the gateway unlocks the custodian key file "
        "(encrypted, same passphrase as the OEM key) and releases keys for approved "
        "requests and carries out erasures by itself.",
    ),
]
S3EndpointOpt = Annotated[
    str,
    typer.Option(
        help="Keep the blobs in this S3-compatible store (URL; default: the home's "
        "data/ folder). Credentials: the AWS_* environment variables or a 0600 "
        "credentials file, never the config."
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        help="Data folder (default <home>/data). Instances of one OEM that share the "
        "ingest point at the same one; the one holding the anchoring lease anchors."
    ),
]


@app.command("init")
def init(
    home: HomeOpt,
    oem: Annotated[str, typer.Option(help="The OEM member id this gateway anchors for.")],
    key: Annotated[str, typer.Option(help="Name of the OEM member's key (signs anchors).")],
    custodian_key: Annotated[
        str, typer.Option(help="Name of the OEM custodian's key (only its public key is used).")
    ],
    node: NodeOpt = DEFAULT_NODE,
    port: Annotated[int, typer.Option(help="API port (loopback).")] = 8710,
    keyring: KeyringOpt = DEFAULT_KEYRING,
    custody: CustodyOpt = False,
    s3_endpoint: S3EndpointOpt = "",
    s3_bucket: Annotated[str, typer.Option(help="S3 bucket (created if missing).")] = "",
    s3_prefix: Annotated[str, typer.Option(help="Key prefix in the bucket.")] = "carchain",
    s3_region: Annotated[str, typer.Option(help="S3 region.")] = "us-east-1",
    data_dir: DataDirOpt = None,
    instance_id: Annotated[
        str, typer.Option(help="This instance's id in the anchoring lease (default: derived).")
    ] = "",
) -> None:
    """Create a gateway home: config naming the encrypted OEM key file and the custodian key.

    The node must be reachable: the key must be the active member key of ``--oem``
    (the only key whose anchors the chain accepts for it). With ``--custody`` the
    config also names the custodian's encrypted key file (``custodian_key_file``).
    Several homes (one per instance, each its own port) may name one ``--data-dir``.
    """
    from carchain.gateway.auth import validate_gateway_key
    from carchain.gateway.server import GatewayConfig, save_config
    from carchain.sdk.chainview import ChainView

    key_file = get_existing_key_path(keyring, key)
    custodian = load_public_key(get_existing_key_path(keyring, custodian_key))
    with Client(node) as client:
        validate_gateway_key(ChainView(client), load_public_key(key_file), oem)
    save_config(
        home,
        GatewayConfig(
            oem=oem,
            key_file=str(key_file.resolve()),
            custodian_public_key=custodian.hex(),
            node_url=node,
            api_port=port,
            custodian_key_file=str(key_path(keyring, custodian_key).resolve()) if custody else "",
            s3_endpoint=s3_endpoint,
            s3_bucket=s3_bucket,
            s3_prefix=s3_prefix,
            s3_region=s3_region,
            data_dir=str(data_dir.resolve()) if data_dir is not None else "",
            instance_id=instance_id,
        ),
    )
    console.print(f"[green]initialised[/green] gateway home {home} for {oem}")


@app.command("start")
def start(
    home: HomeOpt,
    port: Annotated[int | None, typer.Option(help="Override the API port.")] = None,
    log_format: LogFormatOpt = "text",
) -> None:
    """Run the gateway (API and anchoring loop) on loopback until interrupted."""
    from carchain.gateway.server import load_config, run_gateway

    parse_log_format(log_format)
    check_port_free(port or load_config(home).api_port)
    passphrase = get_passphrase()
    setup_logging(log_format)
    run_gateway(home, passphrase, port)


@app.command("status")
def status(gateway: GatewayOpt = DEFAULT_GATEWAY, as_json: JsonOpt = False) -> None:
    """Show the gateway's counts of batches and anchors."""
    with GatewayClient(gateway) as gc:
        doc = gc.status()
    if as_json:
        emit_json(doc)
        return
    for k, v in doc.items():
        console.print(make_text(f"{k}: {v}"))


@app.command("batches")
def batches(
    vehicle_id: Annotated[str, typer.Option("--vehicle-id", help="Vehicle id.")],
    key: Annotated[
        str, typer.Option(help="Key that signs the request: OEM member, custodian or owner.")
    ],
    start_ms: Annotated[int, typer.Option(help="Range start (ms since epoch).")] = 0,
    end_ms: Annotated[int, typer.Option(help="Range end (ms since epoch).")] = 2**62,
    gateway: GatewayOpt = DEFAULT_GATEWAY,
    keyring: KeyringOpt = DEFAULT_KEYRING,
    as_json: JsonOpt = False,
) -> None:
    """List a vehicle's batches in a time range, with their anchors (a signed request).

    The header hash is printed in full: it is what ``gateway prove --header-hash`` takes.
    """
    signer = unlock(keyring, key)
    with GatewayClient(gateway, signer=signer) as gc:
        docs = gc.batches(vehicle_id, start_ms, end_ms)
    if as_json:
        emit_json({"vehicle_id": vehicle_id, "batches": docs})
        return
    # One line per batch, never wrapped or cut: the hash is copied into `gateway prove`.
    console.print(make_text("header hash  epoch seq start_ms end_ms records anchor height"))
    for d in docs:
        cells = (d["epoch"], d["seq"], d["start_ms"], d["end_ms"], d["record_count"],
                 d["anchor_seq"] or "-", d["anchor_height"] or "-")  # fmt: skip
        line = " ".join(str(v) for v in (d["header_hash"], *cells))
        console.print(make_text(line), soft_wrap=True, highlight=False)


@app.command("prove")
def prove(
    header_hash: Annotated[str, typer.Option(help="The batch's header hash (hex).")],
    index: Annotated[int, typer.Option(help="Record index in the batch.")],
    key: Annotated[
        str, typer.Option(help="Owner or custodian key name (opens its category keys).")
    ],
    out: Annotated[Path, typer.Option(help="Where to write the proof bundle (JSON).")],
    header_out: Annotated[Path, typer.Option(help="Where to write the block header (JSON).")],
    rpc: Annotated[
        str | None, typer.Option(help="CometBFT RPC URL (on a network: commit and validators).")
    ] = None,
    gateway: GatewayOpt = DEFAULT_GATEWAY,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Decrypt a batch as its owner or custodian and write a proof bundle for one record.

    The bundle carries its block in full (all header fields; on a network also the
    commit and validator set from --rpc); --header-out gets a copy of that block.
    """
    signer = unlock(keyring, key)
    with GatewayClient(gateway, signer=signer) as gc, Client(node) as client:
        try:
            hh = bytes.fromhex(header_hash)
            doc = gc.batch_proof(hh)
            signed = decode_signed_header(bytes.fromhex(doc["batch_header"]))
            count = signed.header.record_count
            if not 0 <= index < count:
                raise typer.BadParameter(f"the batch has {count} records")
            # The owner opens every segment; the custodian only the non-sensitive ones.
            keys = open_batch_category_keys(signed, gc.key_envelope, signer)
            opened = open_batch_segments(signed, gc.ciphertext(hh), keys)
            bundle, block_header = build_record_proof(opened, index, doc, client, rpc)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    out.write_text(json.dumps(bundle, indent=2))
    header_out.write_text(json.dumps(block_header, indent=2))
    height = bundle["state"]["height"]
    console.print(f"[green]wrote[/green] {out} and {header_out} (block {height})")
