"""``carchain verify``: check a record's proof bundle offline against a block header."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from carchain.cli.common import console, fail
from carchain.core.exceptions import CarchainError, InvalidProof
from carchain.sdk.record_proofs import verify_record_proof


def _load(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(InvalidProof(f"cannot read the {what} {path}: {exc}"))


def verify(
    bundle: Annotated[Path, typer.Argument(help="Proof bundle (JSON) from the SDK or gateway.")],
    header: Annotated[Path, typer.Option("--header", help="Block header (JSON) you trust.")],
) -> None:
    """Check record -> batch root -> gateway root -> anchor tx -> app hash, offline."""
    try:
        v = verify_record_proof(_load(bundle, "bundle"), _load(header, "block header"))
    except CarchainError as exc:
        fail(exc)
    console.print(
        f"[green]verified[/green] {v.kind} record of vehicle {v.vehicle_id} "
        f"(epoch {v.epoch}, batch {v.batch_seq}) anchored by {v.oem} as anchor {v.anchor_seq} "
        f"at height {v.anchor_height}, proven against block {v.height}'s app hash "
        f"{v.app_hash.hex()[:16]}…"
    )
    console.print(json.dumps(v.record), markup=False, highlight=False)
