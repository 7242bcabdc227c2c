"""``carchain evidence export|verify``: a case's evidence bundle, built and checked offline.

``export`` re-proves an officer's data directory (what ``carchain case fetch`` wrote)
from the chain into a bundle directory; ``verify`` checks a bundle with no node, against
a trust root the user holds (``--trust-hash``, ``--validators``/``--genesis`` or
``--header``, as ``carchain verify``), prints that root and, on any tampering, the first
broken link.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carchain.cli.case_data import open_gateways
from carchain.cli.common import (
    DEFAULT_KEYRING,
    DEFAULT_NODE,
    CarchainTyper,
    KeyOpt,
    KeyringOpt,
    NodeOpt,
    client,
    console,
    unlock,
)
from carchain.cli.verify import (
    BlockHashOpt,
    BlockHeaderOpt,
    BlockValidatorsOpt,
    ChainIdOpt,
    GenesisSetOpt,
    get_block_trust,
    load_json,
)
from carchain.errors import MalformedBundle
from carchain.sdk.evidence_export import build_evidence, read_data_dir, write_evidence
from carchain.sdk.evidence_source import OfficerSource, SegmentWhere
from carchain.sdk.evidence_verify import VerifiedEvidence, verify_evidence

app = CarchainTyper(help="Evidence bundles of lawful-access cases.", no_args_is_help=True)

GatewaysOpt = Annotated[
    list[str], typer.Option("--gateway", help="Gateway API URL of a vehicle's OEM (repeat).")
]


def read_segment_keys(data: Path) -> dict[SegmentWhere, bytes]:
    """Return the segment keys ``case.json`` lists (``items[].segment_key``), if any."""
    doc = load_json(data / "case.json", "data directory's case.json")
    out: dict[SegmentWhere, bytes] = {}
    for item in doc.get("items", []) if isinstance(doc, dict) else []:
        if isinstance(item, dict) and isinstance(item.get("segment_key"), str):
            try:
                where = (str(item["vehicle_id"]), bytes.fromhex(str(item["header_hash"])),
                         str(item["category"]))  # fmt: skip
                out[where] = bytes.fromhex(item["segment_key"])
            except (KeyError, ValueError) as exc:
                raise MalformedBundle("case.json lists a malformed segment key") from exc
    return out


@app.command("export")
def export(
    case_id: Annotated[int, typer.Argument(min=1, help="The case's id.")],
    data: Annotated[Path, typer.Option("--data", help="The data directory of `case fetch`.")],
    out: Annotated[Path, typer.Option("--out", help="The bundle directory to write (new).")],
    key: KeyOpt,
    gateway: GatewaysOpt,
    rpc: Annotated[
        str | None, typer.Option(help="CometBFT RPC URL (on a network: commits, validators).")
    ] = None,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """As the case's officer, while the case is authorised: build its evidence bundle
    (records with their proofs, the case's state and transactions with theirs, the
    headers and commits, a manifest of SHA-256 hashes); every file 0600."""
    signer = unlock(keyring, key)
    data_case, segments = read_data_dir(data)
    if data_case != case_id:
        raise MalformedBundle(f"the data directory is of case {data_case}, not {case_id}")
    gateways = open_gateways(gateway, signer)
    try:
        with client(node) as c:
            source = OfficerSource(c, gateways, case_id, signer, read_segment_keys(data))
            files = build_evidence(c, case_id, segments, source, rpc)
    finally:
        for gw in gateways.values():
            gw.close()
    write_evidence(out, files)
    console.print(
        f"[green]wrote[/green] {out}: {len(segments)} segments, {len(files)} files, "
        "each hashed in manifest.json"
    )


@app.command("verify")
def verify(
    bundle: Annotated[Path, typer.Argument(help="The evidence bundle directory.")],
    header: BlockHeaderOpt = None,
    trust_hash: BlockHashOpt = None,
    validators: BlockValidatorsOpt = None,
    genesis: GenesisSetOpt = None,
    chain_id: ChainIdOpt = "",
) -> None:
    """Check an evidence bundle offline, link by link, against a trust root you hold."""
    trust = get_block_trust(header, trust_hash, validators, genesis, chain_id)
    print_verified(verify_evidence(bundle, trust))


def print_verified(v: VerifiedEvidence) -> None:
    """Print what was verified and which trust root vouched for the block."""
    c = v.case
    console.print(
        f"[green]verified[/green] case {c.case_id} ({c.state}, basis {c.legal_basis}, "
        f"authority {c.authority}, court {c.court or '-'}): {v.transactions} transactions, "
        f"{v.segments} segments, {v.records} records of {len(v.vehicles)} vehicles, proven "
        f"against block {v.height} ({v.engine} chain {v.chain_id}, hash {v.block_hash.hex()})",
        soft_wrap=True,
    )
    for said in v.trusted_by:
        console.print(f"trust root: {said}", markup=False, highlight=False, soft_wrap=True)
