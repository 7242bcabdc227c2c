"""``carchain evidence export|verify``: a case's evidence bundle, built and checked offline.

``export`` re-proves an officer's data directory (what ``carchain case fetch`` wrote)
from the chain into a bundle directory; ``verify`` checks a bundle with no node, against
a trust root the user holds (``--trust-hash``, ``--validators``/``--genesis`` or
``--header``, as ``carchain verify``), prints that root and, on any tampering, the first
broken link.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

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
)
from carchain.crypto.signing import SigningKey
from carchain.data.batches import BatchHeader
from carchain.errors import CarchainError, MalformedBundle
from carchain.sdk.evidence_export import (
    DataSegment,
    build_evidence,
    read_data_dir,
    write_evidence,
)
from carchain.sdk.evidence_verify import VerifiedEvidence, verify_evidence
from carchain.sdk.gateway_client import GatewayClient

app = CarchainTyper(help="Evidence bundles of lawful-access cases.", no_args_is_help=True)

DEFAULT_GATEWAY = "http://127.0.0.1:8710"
GatewaysOpt = Annotated[
    list[str] | None,
    typer.Option("--gateway", help="Gateway API URL of a vehicle's OEM (repeatable)."),
]


class OfficerSource:
    """The officer's gateways (batch proofs, read with the case id) and segment keys."""

    def __init__(self, gateways: list[GatewayClient], case_id: int, keys: dict[Any, bytes]):
        self.gateways = gateways
        self.case_id = case_id
        self.keys = keys

    def get_batch_proof(self, vehicle_id: str, header_hash: bytes) -> dict[str, Any]:
        """Return the batch proof from the first gateway that holds the batch."""
        last: CarchainError | None = None
        for gc in self.gateways:
            try:
                return gc.batch_proof(header_hash, case_id=self.case_id)  # type: ignore[call-arg]
            except CarchainError as exc:
                last = exc
        raise last or CarchainError("no gateway given (--gateway)")

    def get_segment_key(self, segment: DataSegment, header: BatchHeader) -> bytes:
        """Return the segment key the data directory recorded for the segment."""
        key = self.keys.get((segment.vehicle_id, segment.header_hash, segment.category))
        if key is None:
            raise MalformedBundle(
                f"the data directory has no segment key for {segment.category} of batch "
                f"{segment.header_hash.hex()[:16]}…"
            )
        return key


def read_segment_keys(data: Path) -> dict[Any, bytes]:
    """Return the segment keys ``case.json`` lists (``segment_key`` of each item), if any."""
    from carchain.sdk.bundle_format import decode_strict_json

    doc = decode_strict_json((data / "case.json").read_bytes())
    out: dict[Any, bytes] = {}
    for item in doc.get("items", []):
        if isinstance(item, dict) and isinstance(item.get("segment_key"), str):
            where = (item["vehicle_id"], bytes.fromhex(item["header_hash"]), item["category"])
            out[where] = bytes.fromhex(item["segment_key"])
    return out


@app.command("export")
def export(
    case_id: Annotated[int, typer.Argument(help="The case's id.")],
    data: Annotated[Path, typer.Option("--data", help="The data directory of `case fetch`.")],
    out: Annotated[Path, typer.Option("--out", help="The bundle directory to write (new).")],
    key: KeyOpt,
    gateway: GatewaysOpt = None,
    rpc: Annotated[
        str | None, typer.Option(help="CometBFT RPC URL (on a network: commits, validators).")
    ] = None,
    node: NodeOpt = DEFAULT_NODE,
    keyring: KeyringOpt = DEFAULT_KEYRING,
) -> None:
    """Build the case's evidence bundle: records with their proofs, the case's state and
    transactions with theirs, the headers (and commits) and a manifest of SHA-256 hashes."""
    signer: SigningKey = unlock(keyring, key)
    data_case, segments = read_data_dir(data)
    if data_case != case_id:
        raise MalformedBundle(f"the data directory is of case {data_case}, not {case_id}")
    gcs = [GatewayClient(u, signer=signer) for u in (gateway or [DEFAULT_GATEWAY])]
    try:
        source = OfficerSource(gcs, case_id, read_segment_keys(data))
        with client(node) as c:
            files = build_evidence(c, case_id, segments, source, rpc)
    finally:
        for gc in gcs:
            gc.close()
    write_evidence(out, files)
    console.print(
        f"[green]wrote[/green] {out}: {len(segments)} segments, {len(files)} files "
        "(each 0600, hashed in manifest.json)"
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
