"""``carchain v2x``: sign, verify and decode IEEE 1609.2 CAMs and DENMs; local keys and certs.

Certificates and messages travel as hex text (a file or an argument). Keys are files
encrypted under ``$CARCHAIN_PASSPHRASE`` (or a prompt). ``cli/v2x_scms.py`` adds the
chain-backed commands (issue, revoke, revocations, report, review, transfer) to ``v2x_app``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from carchain.cli.common import CarchainTyper, console, get_passphrase
from carchain.crypto.ecdsa import P256SigningKey
from carchain.errors import V2xDecodeError
from carchain.v2x import codec
from carchain.v2x.certificates import (
    PSID_CAM,
    PSID_DENM,
    LinkageData,
    build_ca_certificate,
    build_pseudonym_certificate,
    compute_hashed_id8,
)
from carchain.v2x.keyfile import load_p256_key, save_p256_key
from carchain.v2x.receiver import Receiver
from carchain.v2x.signed_data import build_signed_data
from carchain.v2x.trust import LinkageValueSet, StaticTrustStore, compute_ca_record

v2x_app = CarchainTyper(help="V2X: signed CAM/DENM (IEEE 1609.2), pseudonym certificates.")
_KINDS = {"cam": PSID_CAM, "denm": PSID_DENM}
HexFile = Annotated[Path, typer.Option(exists=True, dir_okay=False, help="A file of hex text.")]


def _read_hex(path: Path) -> bytes:
    try:
        return bytes.fromhex(path.read_text().strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{path} does not hold hex text") from exc


def _parse_hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError as exc:
        raise typer.BadParameter("not hex") from exc


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _jsonable(value: Any) -> Any:
    """Return a pycrate value as JSON: bytes as hex, CHOICEs as {alternative: value}."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return {value[0]: _jsonable(value[1])}
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


@v2x_app.command("keygen")
def keygen(out: Annotated[Path, typer.Argument(help="Key file to create.")]) -> None:
    """Create a P-256 key (a CA or pseudonym key), encrypted at rest under a passphrase."""
    if out.exists():
        raise typer.BadParameter(f"{out} already exists")
    key = P256SigningKey.generate()
    save_p256_key(out, key, get_passphrase(confirm=True))
    console.print(f"public key {key.public_key_compressed.hex()}", soft_wrap=True)


@v2x_app.command("ca-cert")
def ca_cert(
    key: Annotated[Path, typer.Option(exists=True, help="The CA's key file.")],
    out: Annotated[Path, typer.Option(help="Where to write the certificate (hex).")],
    days: Annotated[int, typer.Option(min=1, max=3650)] = 365,
) -> None:
    """Write a self-signed explicit CA certificate for CAM and DENM, valid from now."""
    signing_key = load_p256_key(key, get_passphrase())
    cert = build_ca_certificate(signing_key, [PSID_CAM, PSID_DENM], _now_ms() // 1000, days * 24)
    out.write_text(cert.hex() + "\n")
    console.print(f"HashedId8 {compute_hashed_id8(cert).hex()}", soft_wrap=True)


@v2x_app.command("pseudonym-cert")
def pseudonym_cert(
    ca_key: Annotated[Path, typer.Option(exists=True, help="The CA's key file.")],
    ca_cert_file: Annotated[Path, typer.Option("--ca-cert", exists=True, help="CA cert (hex).")],
    key: Annotated[Path, typer.Option(exists=True, help="The pseudonym's key file.")],
    out: Annotated[Path, typer.Option(help="Where to write the certificate (hex).")],
    i_cert: Annotated[int, typer.Option(min=0, max=0xFFFF, help="Linkage period i.")] = 0,
    linkage_value: Annotated[str, typer.Option(help="9-byte linkage value, hex.")] = "00" * 9,
    hours: Annotated[int, typer.Option(min=1, max=0xFFFF)] = 168,
) -> None:
    """Write a pseudonym certificate (local test issuance; ``v2x issue`` issues on chain)."""
    passphrase = get_passphrase()
    issuer = load_p256_key(ca_key, passphrase)
    subject = load_p256_key(key, passphrase)
    linkage = LinkageData(i_cert, _parse_hex(linkage_value))
    cert = build_pseudonym_certificate(
        _read_hex(ca_cert_file),
        issuer,
        subject.public_key_compressed,
        _now_ms() // 1000,
        hours,
        [PSID_CAM, PSID_DENM],
        linkage,
    )
    out.write_text(cert.hex() + "\n")
    console.print(f"HashedId8 {compute_hashed_id8(cert).hex()}", soft_wrap=True)


@v2x_app.command("sign")
def sign(
    kind: Annotated[str, typer.Option(help="cam or denm.")],
    json_file: Annotated[Path, typer.Option("--json", exists=True, help="The message as JER.")],
    cert: HexFile,
    key: Annotated[Path, typer.Option(exists=True, help="The pseudonym's key file.")],
    signer: Annotated[str, typer.Option(help="digest or certificate.")] = "certificate",
) -> None:
    """Sign a CAM or DENM given as ASN.1 JSON (JER); print the SPDU as hex."""
    if kind not in _KINDS or signer not in ("digest", "certificate"):
        raise typer.BadParameter("--kind is cam or denm, --signer is digest or certificate")
    value = codec.convert_jer_to_value(kind, json_file.read_text())
    payload = codec.encode_cam(value) if kind == "cam" else codec.encode_denm(value)
    signing_key = load_p256_key(key, get_passphrase())
    raw = build_signed_data(payload, _KINDS[kind], _now_ms(), signing_key, _read_hex(cert), signer)
    console.print(raw.hex(), soft_wrap=True)


@v2x_app.command("verify")
def verify(
    message: Annotated[str, typer.Argument(help="The SPDU as hex.")],
    ca: Annotated[list[Path], typer.Option(exists=True, help="A trusted CA cert (hex).")],
    signer_cert: Annotated[
        Path | None, typer.Option(exists=True, help="Signer cert (hex) for a digest signer.")
    ] = None,
    now_ms: Annotated[int | None, typer.Option(help="Verify as of this Unix ms.")] = None,
    revoked: Annotated[
        list[str] | None, typer.Option(help="A revoked linkage value as HEX:PERIOD.")
    ] = None,
) -> None:
    """Verify a signed CAM or DENM fully against the given CAs; print what it says."""
    trust = StaticTrustStore(compute_ca_record(_read_hex(path)) for path in ca)
    receiver = Receiver(trust, _parse_revoked(revoked or []), _now_ms)
    at = now_ms if now_ms is not None else _now_ms()
    if signer_cert is not None:  # teach the cache the certificate a digest names
        receiver.admit_certificate(_read_hex(signer_cert))
    result = receiver.verify_at(_parse_hex(message), at)
    summary = {
        "verified": True,
        "psid": result.psid,
        "generation_ms": result.generation_ms,
        "signer": result.signer_kind,
        "certificate": result.certificate.hashed_id8.hex(),
        "payload": _jsonable(result.decode_payload()),
    }
    console.print_json(json.dumps(summary))


def _parse_revoked(entries: list[str]) -> LinkageValueSet:
    try:
        pairs = [(bytes.fromhex(e.split(":")[0]), int(e.split(":")[1])) for e in entries]
    except (ValueError, IndexError) as exc:
        raise typer.BadParameter("--revoked is HEX:PERIOD") from exc
    return LinkageValueSet(pairs)


@v2x_app.command("decode")
def decode(message: Annotated[str, typer.Argument(help="Any 1609.2 message as hex.")]) -> None:
    """Decode an ``Ieee1609Dot2Data`` (and the CAM/DENM it carries, if it is one) to JSON."""
    raw = _parse_hex(message)
    value = codec.decode_ieee1609dot2_data(raw)
    out: dict[str, Any] = {"size": len(raw), "ieee1609dot2data": _jsonable(value)}
    content = value["content"]
    if content[0] == "signedData":
        tbs = content[1]["tbsData"]
        inner = (tbs["payload"].get("data") or {}).get("content")
        psid = tbs["headerInfo"]["psid"]
        if inner is not None and inner[0] == "unsecuredData" and psid in (PSID_CAM, PSID_DENM):
            out["payload"] = _decode_payload(psid, inner[1])
    console.print_json(json.dumps(out))


def _decode_payload(psid: int, payload: bytes) -> Any:
    try:
        decoded = codec.decode_cam(payload) if psid == PSID_CAM else codec.decode_denm(payload)
    except V2xDecodeError as exc:  # e.g. a GeoNetworking header in front: show the bytes
        return {"undecoded": payload.hex(), "error": exc.message}
    return _jsonable(decoded)
