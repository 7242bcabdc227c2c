"""Reading the officer's data directory and writing a bundle: bad input is refused typed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from carchain.errors import MalformedBundle
from carchain.sdk.evidence_export import read_data_dir
from carchain.sdk.evidence_manifest import is_safe_path, write_private

HH = "ab" * 32


def write_case(data: Path, items: list[dict[str, object]], case_id: object = 1) -> None:
    data.mkdir(exist_ok=True)
    (data / "case.json").write_text(json.dumps({"case_id": case_id, "items": items}))


def item(vehicle: str = "saic:1", hh: str = HH, category: str = "location") -> dict[str, object]:
    return {"vehicle_id": vehicle, "header_hash": hh, "category": category, "epoch": 1}


def test_data_directory_is_read(tmp_path: Path) -> None:
    write_case(tmp_path, [item()])
    (tmp_path / "saic:1").mkdir()
    doc = [{"kind": "telemetry", "index": 0, "fields": {"lat": 31.2}}]
    (tmp_path / "saic:1" / f"{HH}-location.json").write_text(json.dumps(doc))
    case_id, segs = read_data_dir(tmp_path)
    assert case_id == 1 and len(segs) == 1
    assert segs[0].get_path("records") == f"records/saic:1/{HH}-location.json"
    assert segs[0].projections[0].fields == {"lat": 31.2}


@pytest.mark.parametrize(
    "bad",
    [
        item(vehicle="../x"),
        item(vehicle="a/b"),
        item(vehicle=".."),
        item(hh="../../etc"),
        item(category="Loc/../x"),
        item(hh="AB" * 32),
    ],
)
def test_invalid_item_paths_are_refused(tmp_path: Path, bad: dict[str, object]) -> None:
    write_case(tmp_path, [bad])
    with pytest.raises(MalformedBundle):
        read_data_dir(tmp_path)


@pytest.mark.parametrize(
    "doc",
    ["{", '{"case_id": "x", "items": []}', '{"items": []}', '{"case_id": 1, "items": 5}'],
)
def test_invalid_case_json_is_refused(tmp_path: Path, doc: str) -> None:
    (tmp_path / "case.json").write_text(doc)
    with pytest.raises(MalformedBundle):
        read_data_dir(tmp_path)


@pytest.mark.parametrize(
    "records",
    ['[{"kind": "t", "index": 0}]', '{"a": 1}', '[{"kind": "t", "index": "0", "fields": {}}]'],
)
def test_invalid_records_file_is_refused(tmp_path: Path, records: str) -> None:
    write_case(tmp_path, [item()])
    (tmp_path / "saic:1").mkdir()
    (tmp_path / "saic:1" / f"{HH}-location.json").write_text(records)
    with pytest.raises(MalformedBundle):
        read_data_dir(tmp_path)


def test_missing_records_file_is_refused(tmp_path: Path) -> None:
    write_case(tmp_path, [item()])
    with pytest.raises(MalformedBundle):
        read_data_dir(tmp_path)


def test_write_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (out / "chain").mkdir()
    os.symlink(victim, out / "chain" / "txs.json")
    with pytest.raises(OSError):
        write_private(out, "chain/txs.json", b"x")
    assert victim.read_text() == "keep"


def test_write_refuses_unsafe_paths(tmp_path: Path) -> None:
    for rel in ("../x", "/abs", "a//b", "a/./b", "a\\b", ""):
        assert not is_safe_path(rel)
        with pytest.raises(ValueError):
            write_private(tmp_path, rel, b"x")
