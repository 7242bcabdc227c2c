"""Finding plaintext personal data: what the simulated cars recorded, and where to look.

``compute_needles`` rebuilds (from the demo's seeds) the personal values the cars
recorded, in the encodings they could leak in: IEEE-754 doubles (big- and
little-endian: MessagePack and SQLite REAL), decimal strings, the MessagePack and
text forms of the EDR speed series, the VINs, the DTC codes, the raw V2X peer ids.
The ``scan_*`` functions return every ``(place, needle label)`` they find.
"""

from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from carchain.data.batches import decode_signed_header
from carchain.data.minimisation import FLEET_TELEMATICS_POLICY, apply_policy
from carchain.data.records import EdrEvent, Record, Telemetry, V2xLog
from carchain.sdk.vin import compute_vin_with_check_digit
from carchain.sim.drive import HOUR_MS, DriveStats, generate_records

# Decimal strings shorter than this are too common to mean anything (e.g. "31.2 s").
MIN_DECIMAL_CHARS = 6
DTC_CODES = ("P0301",)
SEPARATOR = b"\n\x00\xff\n"


PREFIX = 4  # every needle is at least this long (the DTC codes are the shortest)


@dataclass
class Needles:
    """Byte strings that must never appear outside ciphertext, each with a label."""

    items: dict[bytes, str] = field(default_factory=dict)
    recorded: list[Record] = field(default_factory=list)  # minimised, as the cars stored them
    # The needles by their first PREFIX bytes: one pass over the data finds them all.
    _by_prefix: dict[bytes, list[bytes]] = field(default_factory=dict)

    def add(self, value: bytes, label: str) -> None:
        """Add one needle (at least ``PREFIX`` bytes)."""
        if len(value) < PREFIX:
            raise ValueError("a needle this short would match anything")
        if value not in self.items:
            self.items[value] = label
            self._by_prefix.setdefault(value[:PREFIX], []).append(value)

    def add_float(self, x: float, label: str) -> None:
        """Add a double's binary encodings and, if long enough, its decimal forms."""
        self.add(struct.pack(">d", x), f"{label} (float64 BE)")
        self.add(struct.pack("<d", x), f"{label} (float64 LE)")
        for text in {repr(x), json.dumps(x)}:
            if len(text) >= MIN_DECIMAL_CHARS:
                self.add(text.encode(), f"{label} ({text})")

    def find(self, data: bytes) -> list[str]:
        """Return the labels of every needle in ``data`` (each once, in order of finding)."""
        found: dict[str, None] = {}
        index = self._by_prefix
        for i in range(len(data) - PREFIX + 1):
            candidates = index.get(data[i : i + PREFIX])
            if candidates:
                for needle in candidates:
                    if data.startswith(needle, i):
                        found[self.items[needle]] = None
        return list(found)


def _add_record(n: Needles, raw: Record, minimised: Record | None) -> None:
    for rec, tag in ((raw, "raw"), (minimised, "minimised")):
        if isinstance(rec, Telemetry | V2xLog) and rec.lat is not None and rec.lon is not None:
            n.add_float(rec.lat, f"{tag} latitude")
            n.add_float(rec.lon, f"{tag} longitude")
    if isinstance(raw, V2xLog) and raw.peer and raw.message_hash:
        n.add(raw.peer.encode(), "raw V2X peer id")
        n.add(raw.message_hash, "V2X message hash")
    if isinstance(raw, EdrEvent) and raw.pre_crash_speed_kmh and raw.delta_v_long_kmh:
        for series, what in (
            (raw.pre_crash_speed_kmh, "EDR speed"),
            (raw.delta_v_long_kmh, "EDR delta-v"),
        ):
            n.add(msgspec.msgpack.encode(series), f"{what} series (msgpack)")
            n.add(json.dumps(series).encode(), f"{what} series (JSON)")
            n.add(repr(series).encode(), f"{what} series (repr)")


def compute_needles(data: DriveStats, vehicles: int, drivers: int) -> Needles:
    """Return the personal values the demo's cars recorded (``drivers`` of them drove)."""
    n = Needles()
    for i in range(vehicles):
        vin = compute_vin_with_check_digit(f"LSVAX4180E2{i:06d}")
        n.add(vin.encode(), f"VIN {vin}")
    for code in DTC_CODES:
        n.add(code.encode(), f"DTC {code}")
    key = bytes(32)  # the pseudonym key only changes pseudonyms, not what is kept
    for i in range(drivers):
        for _, raw in generate_records(i, data.start_ms, HOUR_MS, data.interval_ms, i == 0):
            minimised = apply_policy(raw, FLEET_TELEMATICS_POLICY, key)
            _add_record(n, raw, minimised)
            if minimised is not None:
                n.recorded.append(minimised)
    return n


# --- where to look ------------------------------------------------------------------


def iter_sqlite_cells(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(table.column, bytes)`` of every text, blob and real cell of every table."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.text_factory = bytes  # text cells as they are stored, valid UTF-8 or not
    try:
        query = "SELECT name FROM sqlite_master WHERE type='table'"
        tables = [r[0].decode() for r in conn.execute(query)]
        for table in tables:
            cur = conn.execute(f'SELECT * FROM "{table}"')
            names = [d[0] for d in cur.description]
            for row in cur:
                for name, value in zip(names, row, strict=True):
                    if isinstance(value, bytes):
                        yield f"{table}.{name}", value
                    elif isinstance(value, float):
                        yield f"{table}.{name}", struct.pack(">d", value)
    finally:
        conn.close()


def scan_sqlite(path: Path, needles: Needles) -> list[tuple[str, str]]:
    """Return what a SQLite database holds of ``needles``: cell by cell, and in its raw
    file bytes (also freed pages and the write-ahead log)."""
    columns: dict[str, list[bytes]] = {}
    for where, cell in iter_sqlite_cells(path):
        columns.setdefault(where, []).append(cell)
    hits = []
    for where, cells in columns.items():
        # One scan per column; the separator keeps a needle from spanning two cells.
        joined = SEPARATOR.join(cells)
        hits.extend((f"{path.name}:{where}", label) for label in needles.find(joined))
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists():
            hits.extend((f"{file.name} (raw)", label) for label in needles.find(file.read_bytes()))
    return hits


def get_ciphertext_digests(journal: Path) -> set[bytes]:
    """Return the blob digests of every batch ciphertext a gateway journal names."""
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        headers = [r[0] for r in conn.execute("SELECT header FROM batches")]
    finally:
        conn.close()
    return {decode_signed_header(h).header.ciphertext_hash for h in headers}


def scan_tree(root: Path, needles: Needles, skip: set[bytes]) -> list[tuple[str, str]]:
    """Return what the files under ``root`` hold of ``needles``: SQLite databases cell by
    cell and raw, every other file raw, except blobs named by a digest in ``skip`` (a
    file of the file layout, or a blob's bytes in a segment file)."""
    hits: list[tuple[str, str]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        where = str(path.relative_to(root))
        if path.suffix == ".db":
            hits.extend(scan_sqlite(path, needles))
        elif path.name.endswith(("-wal", "-shm")):
            continue  # read with their database
        elif path.suffix == ".seg":
            data = _read_segment_masked(path, skip)
            hits.extend((where, label) for label in needles.find(data))
        elif not _is_skipped_blob(path, skip):
            hits.extend((where, label) for label in needles.find(path.read_bytes()))
    return hits


def list_blob_digests(root: Path) -> list[bytes]:
    """Return the address of every blob under ``root``: files of the file layout and the
    rows of every segment store's index."""
    found = [bytes.fromhex(p.name) for p in root.rglob("*") if p.is_file() and len(p.name) == 64]
    for index in root.rglob("index.db"):
        conn = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
        try:
            found += [r[0] for r in conn.execute("SELECT digest FROM blobs")]
        finally:
            conn.close()
    return found


def _read_segment_masked(path: Path, skip: set[bytes]) -> bytes:
    """Return a segment file's raw bytes with the blobs in ``skip`` zeroed: every other
    byte (envelopes, manifests, shredded and unindexed regions) is scanned."""
    raw = bytearray(path.read_bytes())
    conn = sqlite3.connect(f"file:{path.parent / 'index.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT digest, offset, length FROM blobs WHERE segment = ?", (int(path.stem),)
        ).fetchall()
    finally:
        conn.close()
    for digest, offset, length in rows:
        if digest in skip:
            raw[offset : offset + length] = bytes(length)
    return bytes(raw)


def _is_skipped_blob(path: Path, skip: set[bytes]) -> bool:
    try:
        return bytes.fromhex(path.name) in skip
    except ValueError:
        return False


def scan_texts(texts: Iterable[tuple[str, str]], needles: Needles) -> list[tuple[str, str]]:
    """Return what the given ``(place, text)`` pairs (logs, console output) hold."""
    by_place: dict[str, list[bytes]] = {}
    for place, text in texts:
        by_place.setdefault(place, []).append(text.encode())
    return [
        (place, label)
        for place, parts in by_place.items()
        for label in needles.find(SEPARATOR.join(parts))
    ]
