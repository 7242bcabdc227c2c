"""The demo's lawful-access case: open -> authorise (narrowed) -> 3 of 4 approve ->
the custodian services release -> the officer decrypts exactly the scope -> receipts;
what it prints holds counts and codes, never a decrypted value."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from carchain.sim.case_demo import run_case_demo


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
