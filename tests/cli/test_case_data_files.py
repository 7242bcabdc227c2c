"""``case fetch``'s files: the layout and modes, and a hostile node's vehicle id or
category never becomes a path of its own (typed error, nothing written)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from carchain.cli.case_data import write_case_data
from carchain.core.case_records import Case, CaseScope
from carchain.data.projections import Projection
from carchain.errors import InvalidBody
from carchain.sdk.officer import CaseFetch, CaseSegment
from carchain.sdk.requester import ReleasedSegment

SCOPE = CaseScope(["saic:1"], ["location"], 0, 86_400_000)
CASE = Case(3, b"r" * 32, "rtsl_accident", "police", b"o" * 32, b"j" * 32, SCOPE, 1, 1)


def make_fetch(vehicle_id: str = "saic:1", category: str = "location") -> CaseFetch:
    seg = ReleasedSegment(b"\xaa" * 32, category, None, b"k" * 32,  # type: ignore[arg-type]
                          [Projection("telemetry", 0, {"lat": 31.2, "lon": 121.4})])  # fmt: skip
    return CaseFetch(CASE, SCOPE, "carchain-x", 12, [CaseSegment(vehicle_id, 0, seg)])


def test_segments_and_case_json_are_written_private(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_case_data(out, make_fetch())
    path = out / "saic:1" / f"{'aa' * 32}-location.json"
    assert json.loads(path.read_text()) == [
        {"kind": "telemetry", "index": 0, "fields": {"lat": 31.2, "lon": 121.4}}
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads((out / "case.json").read_text())
    assert doc == {"case_id": 3, "chain_id": "carchain-x", "height": 12, "items": [
        {"vehicle_id": "saic:1", "header_hash": "aa" * 32, "category": "location", "epoch": 0}
    ]}  # fmt: skip
    assert stat.S_IMODE((out / "case.json").stat().st_mode) == 0o600


def test_an_existing_file_loses_its_old_mode_and_a_symlink_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "saic:1").mkdir(parents=True)
    old = out / "saic:1" / f"{'aa' * 32}-location.json"
    old.write_text("old")
    old.chmod(0o644)
    target = tmp_path / "elsewhere.json"
    target.write_text("keep")
    (out / "case.json").symlink_to(target)
    with pytest.raises(OSError):
        write_case_data(out, make_fetch())
    assert stat.S_IMODE(old.stat().st_mode) == 0o600 and target.read_text() == "keep"


@pytest.mark.parametrize(
    ("vehicle_id", "category"),
    [("../evil", "location"), ("saic:../../x", "location"), ("/abs", "location"),
     ("saic:1", "../x"), ("saic:1", "not_a_category")],
)  # fmt: skip
def test_invalid_a_hostile_name_is_refused_before_anything_is_written(
    tmp_path: Path, vehicle_id: str, category: str
) -> None:
    with pytest.raises(InvalidBody):
        write_case_data(tmp_path / "out", make_fetch(vehicle_id, category))
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []
