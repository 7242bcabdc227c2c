"""What a node answers is printed as text: never as rich markup, never as terminal control.

On-chain text (a vehicle's model, a member's name) is written by other members and
must only be printable; ``[/bold]`` is printable and, read as markup, made rich raise
``MarkupError`` (a traceback instead of the listing). A hostile node can answer
anything, escape sequences included.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from typer.testing import CliRunner

from carchain.cli.main import app
from carchain.sdk.client import Client

HOSTILE = "RX5 [/bold][link=http://127.0.0.1:9/x]click[/link] \x1b]0;owned\x07\x1b[2J\x9b"


def _member(name: str) -> dict[str, Any]:
    return {
        "member_id": "saic",
        "name": name,
        "roles": ["oem", name],
        "status": name,
        "power": 1,
        "public_key": "ab" * 32,
    }


def _is_clean(out: str) -> bool:
    return not [c for c in out if c != "\n" and unicodedata.category(c) in ("Cc", "Cf")]


def test_vehicle_show_prints_hostile_fields_as_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Client, "vehicle", lambda self, vid: {"vehicle_id": vid, "model": HOSTILE})
    res = CliRunner().invoke(app, ["vehicle", "show", "saic:1", "--node", "http://127.0.0.1:9"])
    assert res.exit_code == 0, res.output
    assert "[/bold][link=" in res.stdout and _is_clean(res.stdout)


def test_member_list_prints_hostile_fields_as_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Client, "members", lambda self, limit=100, after="": [_member(HOSTILE)])
    res = CliRunner().invoke(app, ["member", "list", "--node", "http://127.0.0.1:9"])
    assert res.exit_code == 0, res.output
    assert "[/bold]" in res.stdout and _is_clean(res.stdout)
