"""``carchain v2x`` SCMS commands: register a pseudonym CA, name the linkage authorities,
revoke (decide, release seeds), list revocations, report and review misbehaviour, and
verify a car-to-car transfer from the two cars' record proofs.

``register(group)`` adds them to a Typer group (V2XMSG's ``v2x_app``); ``app`` is a
group with only these commands. P-256 keys (a CA's, a pseudonym's) are V2X key files
(``v2x/keyfile``, encrypted) named ``<name>.v2xkey`` in the keyring, certificates
``<name>.cert`` (hex).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

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
    get_event_attribute,
    get_passphrase,
    key_path,
    make_text,
    parse_hex_option,
    send_body,
    unlock,
)
from carchain.core import governance as gov
from carchain.core import misbehaviour as mb
from carchain.core import v2x_revocation as rvk
from carchain.core.members import get_member_by_key
from carchain.crypto.ecdsa import P256SigningKey
from carchain.gateway.v2x_relay import prepare_report
from carchain.sdk.account import get_chain_id
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.chainview import ChainView
from carchain.v2x import keyfile
from carchain.v2x.ca_trust import build_ca_registration
from carchain.v2x.certificates import PSID_CAM, PSID_DENM, build_ca_certificate, compute_hashed_id8
from carchain.v2x.misbehaviour import CarReport, open_report_evidence
from carchain.v2x.revocation_index import build_revocation_index

app = CarchainTyper(help="V2X SCMS: pseudonym CAs, revocation, misbehaviour, transfers.")
Hex8 = Annotated[str, typer.Option(help="A HashedId8 (16 hex digits).")]
LinkageOpt = Annotated[str, typer.Option("--linkage-value", help="9-byte linkage value (hex).")]
PeriodOpt = Annotated[int, typer.Option("--period", help="Linkage period i (weeks since 2004).")]


def compute_p256_key_path(keyring: Path, name: str) -> Path:
    """Return the file of the V2X (P-256) key ``name``: ``<name>.v2xkey`` in the keyring."""
    return key_path(keyring, name).with_suffix(".v2xkey")


def save_p256_key(keyring: Path, name: str, key: P256SigningKey) -> None:
    """Store a P-256 key in the keyring under ``name`` (V2X key file, encrypted)."""
    keyfile.save_p256_key(compute_p256_key_path(keyring, name), key, get_passphrase(True))


def load_p256_key(keyring: Path, name: str) -> P256SigningKey:
    """Load a P-256 key stored with ``save_p256_key``."""
    return keyfile.load_p256_key(compute_p256_key_path(keyring, name), get_passphrase())


def register_ca(
    oem: Annotated[str, typer.Option(help="The OEM's member id (it proposes).")],
    ca_name: Annotated[str, typer.Option(help="Keyring name for the new CA key.")],
    key: KeyOpt,
    start_s: Annotated[int, typer.Option(help="Validity start (Unix s).")],
    days: Annotated[int, typer.Option(min=1, max=2730, help="1609.2 hours fit 16 bits.")] = 730,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Create a pseudonym CA key and certificate; propose registering it (the OEM votes yes)."""
    ca_key = P256SigningKey.generate()
    cert = build_ca_certificate(ca_key, [PSID_CAM, PSID_DENM], start_s, days * 24)
    save_p256_key(keyring, ca_name, ca_key)
    (keyring / f"{ca_name}.cert").write_text(cert.hex())
    hid = compute_hashed_id8(cert)
    action = build_ca_registration(oem, ca_key, cert, start_s, start_s + days * 86400)
    res = send_body(node, keyring, key, gov.Propose(action))
    pid = get_event_attribute(res, "proposal_created", "proposal_id", "?")
    console.print(make_text(f"pseudonym CA {hid.hex()} proposed: proposal {pid}"))


def set_linkage_authorities(
    la1: Annotated[str, typer.Option(help="Member id of LA 1.")],
    la1_id: Annotated[int, typer.Option(help="LA 1's 16-bit id.")],
    la2: Annotated[str, typer.Option(help="Member id of LA 2.")],
    la2_id: Annotated[int, typer.Option(help="LA 2's 16-bit id.")],
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Propose the two linkage authorities."""
    res = send_body(
        node, keyring, key, gov.Propose(rvk.SetLinkageAuthorities(la1, la1_id, la2, la2_id))
    )
    pid = get_event_attribute(res, "proposal_created", "proposal_id", "?")
    console.print(make_text(f"linkage authorities proposed: proposal {pid}"))


def revoke(
    ca: Hex8,
    linkage_value: LinkageOpt,
    period: PeriodOpt,
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As the misbehaviour authority, decide to revoke the vehicle behind a linkage value."""
    body = rvk.Revoke(
        parse_hex_option(ca, "ca", 8), parse_hex_option(linkage_value, "linkage value", 9), period
    )
    res = send_body(node, keyring, key, body)
    seq = get_event_attribute(res, "v2x_revocation_decided", "decision_seq", "?")
    console.print(make_text(f"revocation decision {seq}: waiting for both linkage authorities"))


def release_seed(
    decision: Annotated[int, typer.Option(help="The revocation decision's seq.")],
    seed: Annotated[str, typer.Option(help="Your linkage seed ls(i) (32 hex digits).")],
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As a linkage authority, release your seed for a decision's period."""
    res = send_body(
        node, keyring, key, rvk.ReleaseSeed(decision, parse_hex_option(seed, "seed", 16))
    )
    done = get_event_attribute(res, "v2x_revoked", "decision_seq")
    console.print(make_text(f"decision {decision}: " + ("revoked" if done else "seed released")))


def revocations(
    linkage_value: Annotated[
        str, typer.Option("--linkage-value", help="Check one value (hex).")
    ] = "",
    period: Annotated[int, typer.Option("--period", help="Its period.")] = 0,
    node: NodeOpt = DEFAULT_NODE,
    as_json: JsonOpt = False,
) -> None:
    """List revocation decisions; with ``--linkage-value``, say whether it is revoked."""
    lv = parse_hex_option(linkage_value, "linkage value", 9) if linkage_value else b""
    with client(node) as c:
        view = ChainView(c)
        count = rvk.get_revocation_count(view)
        found = [rvk.get_revocation(view, s) for s in range(1, count + 1)]
        index = build_revocation_index(view) if linkage_value else None
    revoked = index.is_revoked(lv, period) if index is not None else None
    if as_json:
        emit_json({"revocations": found, "linkage_value": linkage_value or None,
                   "period": period, "revoked": revoked})  # fmt: skip
        return
    table = Table("seq", "status", "period", "CA", "seeds released")
    for r in found:
        cells = (r.decision_seq, r.status, r.i_period, r.ca_hashed_id8.hex(), len(r.releases))
        table.add_row(*(make_text(v) for v in cells))
    console.print(table)
    if revoked is not None:
        verdict = "revoked" if revoked else "not revoked"
        console.print(make_text(f"{linkage_value} in period {period}: {verdict}"))


def report(
    evidence: Annotated[str, typer.Option(help="The offending message (hex).")],
    reason: Annotated[str, typer.Option(help=" | ".join(sorted(mb.REASONS)))],
    observed_ms: Annotated[int, typer.Option(help="When it was heard (Unix ms).")],
    pseudonym: Annotated[str, typer.Option(help="Keyring name of the reporter's pseudonym.")],
    chain_id: Annotated[str, typer.Option(help="The chain id the report is signed for.")],
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Sign a report with a pseudonym (``<name>`` key + ``<name>.cert``); relay it as the
    OEM, the evidence sealed to every active misbehaviour authority (as the gateway does)."""
    raw = bytes.fromhex(evidence)
    cert = bytes.fromhex((keyring / f"{pseudonym}.cert").read_text().strip())
    p256 = load_p256_key(keyring, pseudonym)
    digest = mb.compute_report_digest(
        chain_id, hashlib.sha256(raw).digest(), reason, observed_ms, cert
    )
    r, s = p256.sign_digest(digest)
    car = CarReport(raw, reason, observed_ms, cert, p256.public_key_compressed, r, s)
    with client(node) as c:
        body = prepare_report(c, chain_id, car)
    res = send_body(node, keyring, key, body)
    console.print(
        make_text(f"report {get_event_attribute(res, 'v2x_report', 'report_seq', '?')} submitted")
    )


def review(
    report_seq: int,
    key: KeyOpt,
    verdict: Annotated[str, typer.Option(help="dismiss | revoke")] = "dismiss",
    ca: Annotated[str, typer.Option(help="With revoke: the issuing CA's HashedId8.")] = "",
    linkage_value: Annotated[str, typer.Option("--linkage-value")] = "",
    period: Annotated[int, typer.Option("--period")] = 0,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As the misbehaviour authority, dismiss a report or decide revocation for it."""
    body = mb.Review(report_seq, verdict)
    if verdict == "revoke":
        cid, lv = parse_hex_option(ca, "ca", 8), parse_hex_option(linkage_value, "linkage value", 9)
        body = mb.Review(report_seq, verdict, cid, lv, period)
    res = send_body(node, keyring, key, body)
    seq = get_event_attribute(res, "v2x_revocation_decided", "decision_seq")
    console.print(
        make_text(f"report {report_seq}: {verdict}" + (f" (decision {seq})" if seq else ""))
    )


def report_evidence(
    report_seq: int,
    key: KeyOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As a misbehaviour authority, open a report's evidence and print it (hex)."""
    ma_key = unlock(keyring, key)
    with client(node) as c:
        view = ChainView(c)
        rec = mb.get_report(view, report_seq)
        member = get_member_by_key(view, ma_key.public_key).member_id
        chain_id = get_chain_id(c)
    evidence = open_report_evidence(rec, ma_key, chain_id, member)
    # One line whatever the terminal's width, so the hex can be copied into `v2x decode`.
    said = f"report {report_seq} evidence ({rec.reason}): {evidence.hex()}"
    console.print(make_text(said), soft_wrap=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read {path}") from exc


def transfer(
    sender_bundle: Annotated[Path, typer.Option(help="The sender car's record proof.")],
    sender_header: Annotated[Path, typer.Option(help="Your copy of its block header.")],
    receiver_bundle: Annotated[Path, typer.Option(help="The receiver car's record proof.")],
    receiver_header: Annotated[Path, typer.Option(help="Your copy of its block header.")],
    data: Annotated[Path | None, typer.Option(help="The transferred data, to check it.")] = None,
    salt: Annotated[str, typer.Option(help="Its salt (hex), with --data.")] = "",
) -> None:
    """Verify that car A sent the data to car B at t and B acknowledged it (offline)."""
    from carchain.sdk.v2x_transfer_proofs import verify_transfer_proofs

    proven = verify_transfer_proofs(
        _read_json(sender_bundle), _read_json(receiver_bundle),
        BlockTrust(own_header=_read_json(sender_header)),
        BlockTrust(own_header=_read_json(receiver_header)),
        None if data is None else data.read_bytes(),
        parse_hex_option(salt, "salt", 16) if data is not None else None,
    )  # fmt: skip
    line = f"{proven.sender_vehicle} sent to {proven.receiver_vehicle} at {proven.sent_ms}"
    console.print(make_text(f"{line}, acknowledged at {proven.received_ms}"))
    if proven.data_checked:
        console.print(make_text("the data matches the transfer's commitment"))


def register(group: typer.Typer) -> None:
    """Add the SCMS commands to ``group``."""
    group.command("register-ca")(register_ca)
    group.command("set-linkage-authorities")(set_linkage_authorities)
    group.command("revoke")(revoke)
    group.command("release-seed")(release_seed)
    group.command("revocations")(revocations)
    group.command("report")(report)
    group.command("review")(review)
    group.command("report-evidence")(report_evidence)
    group.command("transfer")(transfer)
    group.command("issue")(issue)
    group.command("la-seed")(la_seed)


ScmsDirOpt = Annotated[Path, typer.Option("--scms-dir", help="Folder of the SCMS services' state.")]


def issue(
    vehicle_id: Annotated[str, typer.Option("--vehicle-id", help="<oem>:<local id>.")],
    vehicle_key: Annotated[str, typer.Option(help="Keyring name of the car's vehicle key.")],
    oem: Annotated[str, typer.Option(help="The OEM's member id (runs the RA and the PCA).")],
    ca_name: Annotated[str, typer.Option(help="Keyring name of the PCA's P-256 CA key.")],
    pca_key: Annotated[str, typer.Option(help="Keyring name of the PCA's Ed25519 box key.")],
    la1_key: Annotated[str, typer.Option(help="Keyring name of LA 1's member key.")],
    la2_key: Annotated[str, typer.Option(help="Keyring name of LA 2's member key.")],
    out: Annotated[str, typer.Option(help="Keyring name prefix of the pseudonyms written.")],
    scms_dir: ScmsDirOpt,
    periods: Annotated[int, typer.Option(min=1, max=4)] = 1,
    count: Annotated[int, typer.Option(min=1, max=64, help="Certificates per period.")] = 20,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Issue a car's pseudonyms: the car, the OEM's RA and PCA and the two LAs, each with its
    own key and state file, run in this process; write ``<out>-<k>`` (key) and ``.cert``."""
    from carchain.v2x.issuance import CarRequester, PseudonymCertificateAuthority
    from carchain.v2x.issuance import RegistrationAuthority as Ra
    from carchain.v2x.scms_store import load_linkage_authority as load_la
    from carchain.v2x.scms_store import (
        load_lookups,
        load_vehicle_chains,
        save_linkage_authority,
        save_lookups,
        save_vehicle_chains,
    )

    ca_cert = bytes.fromhex((keyring / f"{ca_name}.cert").read_text().strip())
    pca = PseudonymCertificateAuthority(
        unlock(keyring, pca_key), load_p256_key(keyring, ca_name), ca_cert
    )
    pca.lookups = load_lookups(scms_dir / "pca-lookups.json")
    with client(node) as c:
        view = ChainView(c)
        las = rvk.get_linkage_authorities(view)
        la1 = load_la(scms_dir / "la1.state", unlock(keyring, la1_key), las.la1_id)
        la2 = load_la(scms_dir / "la2.state", unlock(keyring, la2_key), las.la2_id)
        ra = Ra(oem, pca.key.public_key, la1, la2)
        ra.vehicle_chains = load_vehicle_chains(scms_dir / "ra-chains.json")
        car = CarRequester(vehicle_id, unlock(keyring, vehicle_key))
        first = rvk.compute_period(int(c.status()["latest_block_time_ms"]) // 1000)
        requests = ra.process_requests(
            view, [car.build_request(pca.key.public_key, first, periods, count)]
        )
    boxes = ra.route_responses([pca.process_request(r) for r in requests])
    creds = car.open_certificates(boxes[vehicle_id], pca.hashed_id8)
    save_linkage_authority(scms_dir / "la1.state", la1)
    save_linkage_authority(scms_dir / "la2.state", la2)
    save_lookups(scms_dir / "pca-lookups.json", pca.lookups)
    save_vehicle_chains(scms_dir / "ra-chains.json", ra.vehicle_chains)
    _save_credentials(keyring, out, [(c.key, c.certificate) for c in creds])
    names = f"{out}-0..{len(creds) - 1}"
    console.print(
        make_text(f"{len(creds)} pseudonyms for {vehicle_id} from period {first}: {names}")
    )


def _save_credentials(keyring: Path, out: str, creds: list[tuple[P256SigningKey, bytes]]) -> None:
    passphrase = get_passphrase(True)  # once for the whole batch
    for k, (p256, cert) in enumerate(creds):
        keyfile.save_p256_key(compute_p256_key_path(keyring, f"{out}-{k}"), p256, passphrase)
        (keyring / f"{out}-{k}.cert").write_text(cert.hex())


def la_seed(
    certificate: Annotated[Path, typer.Option(help="The revoked certificate (hex file).")],
    la: Annotated[int, typer.Option(help="1 or 2: which LA you are.", min=1, max=2)],
    la_key: Annotated[str, typer.Option(help="Keyring name of your LA member key.")],
    period: PeriodOpt,
    scms_dir: ScmsDirOpt,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As an LA, find the chain of a certificate (from the PCA's lookup) and print ls(i)."""
    from carchain.v2x.scms_store import load_linkage_authority, load_lookups

    cert_id = compute_hashed_id8(bytes.fromhex(certificate.read_text().strip()))
    lookups = load_lookups(scms_dir / "pca-lookups.json").get(cert_id)
    if lookups is None:
        raise typer.BadParameter("the PCA has no lookup for this certificate")
    with client(node) as c:
        las = rvk.get_linkage_authorities(ChainView(c))
    la_id = las.la1_id if la == 1 else las.la2_id
    state = load_linkage_authority(scms_dir / f"la{la}.state", unlock(keyring, la_key), la_id)
    console.print(state.get_release_seed(lookups[la - 1], period).hex())


register(app)
