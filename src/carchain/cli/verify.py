"""``carchain verify``: check a record's proof bundle offline against a trust root you hold.

The bundle carries its block in full; what vouches for that block is one (or
more) of: a block hash you got elsewhere (``--trust-hash``), a validator set
you trust (``--validators`` file or ``--genesis``), or your own copy of the
block header (``--header``; on a solo node nothing else exists). Every failure,
malformed input included, is one typed error line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from carchain.cli.common import console
from carchain.errors import CarchainError, MalformedBundle, NoTrustRoot
from carchain.sdk.bundle_block import BlockTrust
from carchain.sdk.bundle_format import decode_strict_json
from carchain.sdk.light import parse_validators
from carchain.sdk.light_client import (
    TrustedValidatorSet,
    compute_sorted_validators,
    load_genesis_trust,
)
from carchain.sdk.record_proofs import VerifiedRecord, verify_record_proof


def load_json(path: Path, what: str, error: type[CarchainError] = MalformedBundle) -> Any:
    """Return a JSON file's content; raise ``error`` (one line) if unreadable, not
    JSON, or holding an object with a repeated key.
    """
    try:
        return decode_strict_json(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise error(f"cannot read the {what} {path.name}: {str(exc)[:120]}") from exc


def load_validators(path: Path, chain_id: str) -> TrustedValidatorSet:
    """Read a trusted validator set: CometBFT's ``/validators`` answer or its list.
    A set names no chain, so ``chain_id`` is required.
    """
    if not chain_id:
        raise NoTrustRoot(
            "--validators needs --chain-id: the same validators may sign other chains"
        )
    doc = load_json(path, "validator set", NoTrustRoot)
    if isinstance(doc, dict):
        inner = doc.get("result", doc)
        doc = inner.get("validators") if isinstance(inner, dict) else None
    if not isinstance(doc, list) or not doc:
        raise NoTrustRoot("the validator set file holds no validators list")
    try:
        vals = parse_validators(doc)
    except CarchainError as exc:
        raise NoTrustRoot(f"validator set file: {exc.message}") from exc
    return TrustedValidatorSet(chain_id, 0, compute_sorted_validators(vals))


# The trust-root options of every offline check (``verify``, ``vehicle access-log-verify``).
BlockHeaderOpt = Annotated[
    Path | None, typer.Option("--header", help="Your own copy of the block header (JSON).")
]
BlockHashOpt = Annotated[
    str | None, typer.Option("--trust-hash", help="The block's hash (hex), as you know it.")
]
BlockValidatorsOpt = Annotated[
    Path | None, typer.Option("--validators", help="Validator set you trust (JSON).")
]
GenesisSetOpt = Annotated[
    Path | None, typer.Option("--genesis", help="Genesis file: trust its validator set.")
]
ChainIdOpt = Annotated[str, typer.Option("--chain-id", help="Expected chain id.")]


def get_block_trust(
    header: Path | None,
    trust_hash: str | None,
    validators: Path | None,
    genesis: Path | None,
    chain_id: str,
) -> BlockTrust:
    """Return the trust roots the options name; ``NoTrustRoot`` if none or unusable."""
    raw_hash = None
    if trust_hash is not None:
        try:
            raw_hash = bytes.fromhex(trust_hash)
        except ValueError as exc:
            raise NoTrustRoot("--trust-hash is not hex") from exc
        if len(raw_hash) != 32:
            raise NoTrustRoot("--trust-hash must be 32 bytes")
    if validators is not None and genesis is not None:
        raise NoTrustRoot("give --validators or --genesis, not both")
    vset = load_validators(validators, chain_id) if validators is not None else None
    if genesis is not None:
        vset = load_genesis_trust(genesis)
        if chain_id and vset.chain_id != chain_id:
            raise NoTrustRoot("the genesis file is of another chain than --chain-id")
    own = load_json(header, "block header") if header is not None else None
    trust = BlockTrust(raw_hash, vset, own, chain_id or (vset.chain_id if vset else ""))
    if trust.is_empty():
        raise NoTrustRoot(
            "no trust root: give --trust-hash, --validators or --genesis, or --header"
        )
    return trust


def verify(
    bundle: Annotated[Path, typer.Argument(help="Proof bundle (JSON) from the SDK or gateway.")],
    header: BlockHeaderOpt = None,
    trust_hash: BlockHashOpt = None,
    validators: BlockValidatorsOpt = None,
    genesis: GenesisSetOpt = None,
    chain_id: ChainIdOpt = "",
) -> None:
    """Check record -> batch root -> gateway root -> anchor tx -> app hash -> block, offline."""
    trust = get_block_trust(header, trust_hash, validators, genesis, chain_id)
    v = verify_record_proof(load_json(bundle, "bundle"), trust)
    print_verified(v)


def print_verified(v: VerifiedRecord) -> None:
    """Print what was verified and which trust root vouched for the block."""
    console.print(
        f"[green]verified[/green] {v.kind} record of vehicle {v.vehicle_id} "
        f"(epoch {v.epoch}, batch {v.batch_seq}) anchored by {v.oem} as anchor {v.anchor_seq} "
        f"at height {v.anchor_height}, proven against block {v.height}'s app hash "
        f"{v.app_hash.hex()[:16]}… ({v.engine} chain {v.chain_id}, block hash "
        f"{v.block_hash.hex()} recomputed from its header)",
        soft_wrap=True,
    )
    for said in v.trusted_by:
        console.print(f"trust root: {said}", markup=False, highlight=False, soft_wrap=True)
    console.print(json.dumps(v.record), markup=False, highlight=False)
