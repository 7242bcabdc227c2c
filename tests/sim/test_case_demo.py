"""The demo's lawful-access case: open -> authorise (narrowed) -> 3 of 4 approve ->
the custodian services release -> the officer decrypts exactly the scope -> receipts;
what it prints holds counts and codes, never a decrypted value."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from carchain.sim.case_demo import run_case_demo
from tests.sim.plaintext import Needles, get_ciphertext_digests, scan_tree


def test_the_case_demo_decrypts_exactly_the_scope_and_prints_no_data(tmp_path: Path) -> None:
    out = io.StringIO()
    s = run_case_demo(Console(file=out, width=200), tmp_path)
    assert s.shares_released == 2 * 2 * 3  # 2 cars x 2 days x 3 custodians, location only
    assert (s.segments, s.categories, s.vehicles) == (4, ["location"], ["saic:1", "saic:2"])
    assert (s.receipts, s.missing_keys) == (2, 0)
    assert s.evidence_files > 0 and "given by you" in s.evidence_trust
    assert s.tampered_link  # the tampered copy failed, at a named link
    assert (s.transparency["shares_released"], s.transparency["basis/rtsl_accident"]) == (12, 1)
    text = out.getvalue()
    assert "3 of 4" in text and "receipts signed by the officer" in text
    for value in ("31.2", "121.4"):  # the cars' positions
        assert value not in text


def test_the_case_demo_leaves_no_position_outside_the_officers_files(tmp_path: Path) -> None:
    """Chain state and blocks, the gateway's journal and stores, the custodians' journals:
    none holds a position the cars recorded; only the officer's decrypted data (and the
    evidence bundle made of it) does, which also shows the scanner finds them."""
    run_case_demo(Console(file=io.StringIO(), width=200), tmp_path)
    needles = Needles()
    for i in range(5):  # what sim/case_world.py's cars record
        needles.add_float(31.2 + i / 1000, "latitude")
    needles.add_float(121.4, "longitude")
    officer = {tmp_path / n for n in ("case-data", "evidence", "evidence-tampered")}
    skip = set().union(*(get_ciphertext_digests(j) for j in tmp_path.rglob("journal.db")))
    scanned = [p for p in tmp_path.iterdir() if p.is_dir() and p not in officer]
    assert scanned and any(p.rglob("*.db") for p in scanned)
    for root in scanned:
        assert scan_tree(root, needles, skip) == [], root
    assert scan_tree(tmp_path / "case-data", needles, set())  # the decrypted data is there
