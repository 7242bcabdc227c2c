"""The officer's data directory of a case (what ``carchain case fetch`` writes).

- ``DIR/<vehicle id>/<header hash>-<category>.json``: one decrypted segment, the same
  document as ``access fetch`` writes (a list of ``{kind, index, fields}``);
- ``DIR/case.json``: ``{case_id, chain_id, height, items: [{vehicle_id, header_hash,
  category, epoch}]}``, the segments fetched and where the chain stood.

Every file is created 0600 (also when it was there before), never through a
symlink: it holds decrypted personal data. Vehicle ids and categories come from a
node's answers: each is checked to be one before it names a path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from carchain.core.vehicles import validate_vehicle_id
from carchain.data.categories import CATEGORY_NAMES
from carchain.data.projections import compute_projection_doc
from carchain.errors import InvalidBody
from carchain.sdk.officer import CaseFetch

CASE_FILE = "case.json"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``: 0600, truncating, never through a planted symlink."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def compute_case_doc(fetch: CaseFetch) -> dict[str, Any]:
    """Return the ``case.json`` document of a fetch."""
    items = [
        {
            "vehicle_id": s.vehicle_id,
            "header_hash": s.segment.header_hash.hex(),
            "category": s.segment.category,
            "epoch": s.epoch,
        }
        for s in fetch.segments
    ]
    doc = {"case_id": fetch.case.case_id, "chain_id": fetch.chain_id, "height": fetch.height}
    return doc | {"items": items}


def write_case_data(out: Path, fetch: CaseFetch) -> None:
    """Write every decrypted segment and ``case.json`` under ``out`` (folders 0700)."""
    for s in fetch.segments:  # a node's answer names the vehicles: never a path of its own
        validate_vehicle_id(s.vehicle_id)
        if s.segment.category not in CATEGORY_NAMES:
            raise InvalidBody("not a data category", category=s.segment.category[:40])
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    for s in fetch.segments:
        folder = out / s.vehicle_id
        if folder.is_symlink():
            raise OSError(f"{folder} is a symlink")
        folder.mkdir(exist_ok=True, mode=0o700)
        seg = s.segment
        doc = [compute_projection_doc(p) for p in seg.projections]
        write_private(
            folder / f"{seg.header_hash.hex()}-{seg.category}.json", json.dumps(doc, indent=1)
        )
    write_private(out / CASE_FILE, json.dumps(compute_case_doc(fetch), indent=1))
