"""State at rest of the single-host SCMS run (``carchain v2x issue``): each linkage
authority's seed chains sealed to its own member key, the PCA's lookups, and the RA's
table of each car's chain ids (one chain per car at each LA, kept across batches).

In production each LA runs at its own member and the RA and PCA at the OEM; the CLI
runs the four services in one process for a small consortium or a test, each still with
its own key and its own file, so the split of what each can read holds on disk too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from carchain.crypto.sealing import open_sealed_box, seal_to
from carchain.crypto.signing import SigningKey
from carchain.errors import DecryptionFailed
from carchain.v2x.linkage import Chain, LinkageAuthority

LA_STATE_INFO = b"carchain/v2x-la-state/v1"


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_linkage_authority(path: Path, la: LinkageAuthority) -> None:
    """Write the LA's chains, sealed to its own member key (only it can read them)."""
    doc = {k.hex(): [c.start_period, c.seed.hex()] for k, c in la.chains.items()}
    plain = json.dumps({"la_id": la.la_id, "chains": doc}).encode()
    _write_private(path, seal_to(la.key.public_key, plain, LA_STATE_INFO))


def load_linkage_authority(path: Path, key: SigningKey, la_id: int) -> LinkageAuthority:
    """Return the LA with its chains from ``path`` (a fresh one if there is no file yet)."""
    la = LinkageAuthority(la_id, key)
    if not path.exists():
        return la
    doc = json.loads(open_sealed_box(key, path.read_bytes(), LA_STATE_INFO))
    if doc.get("la_id") != la_id:
        raise DecryptionFailed("cannot decrypt")
    for k, (start, seed) in doc["chains"].items():
        la.chains[bytes.fromhex(k)] = Chain(int(start), bytes.fromhex(seed))
    return la


def save_lookups(path: Path, lookups: dict[bytes, tuple[bytes, bytes]]) -> None:
    """Write the PCA's per-certificate LA lookups (sealed boxes: no secret of the PCA's)."""
    doc = {k.hex(): [a.hex(), b.hex()] for k, (a, b) in lookups.items()}
    _write_private(path, json.dumps(doc).encode())


def save_vehicle_chains(path: Path, chains: dict[str, tuple[bytes, bytes]]) -> None:
    """Write the RA's car -> (LA1 chain id, LA2 chain id) table (random ids, no seed)."""
    doc = {car: [a.hex(), b.hex()] for car, (a, b) in chains.items()}
    _write_private(path, json.dumps(doc).encode())


def load_vehicle_chains(path: Path) -> dict[str, tuple[bytes, bytes]]:
    """Return the RA's car -> chain ids table (empty if there is no file yet)."""
    if not path.exists():
        return {}
    doc = json.loads(path.read_text())
    return {car: (bytes.fromhex(a), bytes.fromhex(b)) for car, (a, b) in doc.items()}


def load_lookups(path: Path) -> dict[bytes, tuple[bytes, bytes]]:
    """Return the PCA's lookups (empty if there is no file yet)."""
    if not path.exists():
        return {}
    doc = json.loads(path.read_text())
    return {bytes.fromhex(k): (bytes.fromhex(a), bytes.fromhex(b)) for k, (a, b) in doc.items()}
