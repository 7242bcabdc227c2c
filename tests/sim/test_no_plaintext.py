"""No plaintext personal data on chain, in the gateways' journals and stores, or in logs.

After the demo (drive, sharing, erasure) every committed state key and value, every
block (its transactions), each gateway's journal and blob stores (all but the batch
ciphertexts) and everything the demo printed or logged are scanned for what the
cars recorded: positions, VINs, trouble codes, the EDR series, V2X peer ids. The
scanner is shown to find each kind of value when one is planted in a copy.
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
from pathlib import Path

import msgspec
import pytest

from carchain.data.records import Diagnostics, EdrEvent, Telemetry, encode_record
from carchain.storage.segments import SegmentBlobStore
from tests.sim.conftest import DemoRun
from tests.sim.plaintext import (
    Needles,
    compute_needles,
    get_ciphertext_digests,
    iter_sqlite_cells,
    list_blob_digests,
    scan_sqlite,
    scan_texts,
    scan_tree,
)


@pytest.fixture(scope="module")
def needles(demo_run: DemoRun) -> Needles:
    data = demo_run.summary.data
    assert data is not None
    return compute_needles(data, demo_run.vehicles, data.vehicles)


def _ciphertexts(demo_run: DemoRun) -> set[bytes]:
    journals = sorted(demo_run.data_dir.rglob("journal.db"))
    assert len(journals) == 3  # one gateway per OEM
    return set().union(*(get_ciphertext_digests(j) for j in journals))


def test_needles_are_the_values_the_cars_encoded(needles: Needles) -> None:
    # The needles are the bytes the car's own encoding holds (so a leak would match).
    tele = next(r for r in needles.recorded if isinstance(r, Telemetry))
    assert tele.lat is not None and tele.lon is not None
    assert needles.find(encode_record(tele))
    edr = next(r for r in needles.recorded if isinstance(r, EdrEvent))
    assert any("EDR speed series" in lab for lab in needles.find(encode_record(edr)))
    assert any(isinstance(r, Diagnostics) and r.trouble_codes for r in needles.recorded)
    assert sum(lab.startswith("VIN") for lab in needles.items.values()) == 60
    assert len(needles.items) > 10_000


def test_no_plaintext_in_committed_state_or_blocks(demo_run: DemoRun, needles: Needles) -> None:
    dbs = sorted(demo_run.node_home.rglob("*.db"))
    assert dbs, "the node's database was not found"
    cells = {where.split(".")[0] for db in dbs for where, _ in iter_sqlite_cells(db)}
    assert {"kv", "blocks"} <= cells  # state keys and values, and the blocks, were read
    assert scan_tree(demo_run.node_home, needles, set()) == []


def test_no_plaintext_in_gateway_journals_or_stores(demo_run: DemoRun, needles: Needles) -> None:
    skip = _ciphertexts(demo_run)
    blobs = list_blob_digests(demo_run.data_dir)
    # Key envelopes (and release packages, tombstones) are scanned; only ciphertexts skipped.
    assert len(skip) < len(blobs)
    assert scan_tree(demo_run.data_dir, needles, skip) == []


def test_no_plaintext_in_logs_or_console(demo_run: DemoRun, needles: Needles) -> None:
    texts = [("console", demo_run.console), *(("log", line) for line in demo_run.logs)]
    assert demo_run.console and "access log" in demo_run.console
    # The gateways' own log lines were captured (the custody service logs each task).
    assert any(line.startswith("carchain.gateway.custody INFO") for line in demo_run.logs)
    assert scan_texts(texts, needles) == []


def test_scanner_finds_planted_plaintext(
    demo_run: DemoRun, needles: Needles, tmp_path: Path
) -> None:
    tele = next(r for r in needles.recorded if isinstance(r, Telemetry))
    edr = next(r for r in needles.recorded if isinstance(r, EdrEvent))
    assert tele.lat is not None and edr.pre_crash_speed_kmh is not None
    # A latitude in a state value and an EDR series in a block, in a copy of the node's db.
    node_db = tmp_path / "state.db"
    shutil.copy(next(demo_run.node_home.rglob("*.db")), node_db)
    assert scan_sqlite(node_db, needles) == []
    series = msgspec.msgpack.encode(edr.pre_crash_speed_kmh)
    with sqlite3.connect(node_db) as conn:
        conn.execute(
            "INSERT INTO kv VALUES ('access', ?, ?, 0, 0)",
            (b"planted", struct.pack(">d", tele.lat)),
        )
        conn.execute("UPDATE blocks SET txs = CAST(txs || ? AS BLOB) WHERE height = 2", (series,))
    hits = scan_sqlite(node_db, needles)
    assert ("state.db:kv.value", "minimised latitude (float64 BE)") in hits
    assert ("state.db:blocks.txs", "EDR speed series (msgpack)") in hits
    # A VIN in a copy of a gateway journal.
    journal = tmp_path / "journal.db"
    shutil.copy(next(demo_run.data_dir.rglob("journal.db")), journal)
    vin = next(n for n, lab in needles.items.items() if lab.startswith("VIN"))
    with sqlite3.connect(journal) as conn:
        conn.execute("UPDATE batches SET vehicle_id = ? WHERE rowid = 1", (vin.decode(),))
    assert any(lab.startswith("VIN") for _, lab in scan_sqlite(journal, needles))
    # A decimal longitude in a blob, and the EDR speed series in a log line.
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / ("ab" * 32)).write_text(f"lon={tele.lon!r}")
    assert any("longitude" in lab for _, lab in scan_tree(tmp_path / "blobs", needles, set()))
    # ... and in a segment store, where only the blobs named in ``skip`` are left out.
    store = SegmentBlobStore(tmp_path / "segments")
    planted = store.put(f"lon={tele.lon!r}".encode())
    store.close()
    assert any("longitude" in lab for _, lab in scan_tree(tmp_path / "segments", needles, set()))
    assert scan_tree(tmp_path / "segments", needles, {planted}) == []
    line = f"carchain.gateway DEBUG edr {edr.pre_crash_speed_kmh!r}"
    assert [lab for _, lab in scan_texts([("log", line)], needles)] == ["EDR speed series (JSON)"]
