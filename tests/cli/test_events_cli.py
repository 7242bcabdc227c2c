"""``carchain events``: the committed events as lines or JSON lines, the filters,
``--follow`` with ``--limit``, and bad filters as one typed error line."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from carchain.cli.main import app
from carchain.sdk.client import Client
from tests.events_node import register_live, run_live_node

runner = CliRunner()


def test_events_prints_json_lines_equal_to_the_sdk_stream(tmp_path: Path) -> None:
    with run_live_node(tmp_path) as emb:
        register_live(emb.url, "saic", "saic:c1")
        register_live(emb.url, "geely", "geely:c1")
        out = runner.invoke(app, ["events", "--json", "--node", emb.url])
        with Client(emb.url) as c:
            expected = [e.to_json() for e in c.events(follow=False)]
        typed = runner.invoke(app, ["events", "--type", "vehicle_registered", "--node", emb.url])
        member = runner.invoke(app, ["events", "--member", "geely", "--json", "--node", emb.url])
    assert out.exit_code == 0, out.output
    assert [json.loads(line) for line in out.output.splitlines()] == expected
    assert len(expected) == 4
    assert typed.exit_code == 0, typed.output
    lines = typed.output.splitlines()
    assert len(lines) == 2 and all("vehicle_registered" in line for line in lines)
    assert "vehicle_id=saic:c1" in lines[0] and lines[0].startswith(expected[1]["id"])
    docs = [json.loads(line) for line in member.output.splitlines()]
    assert [d["id"] for d in docs] == [e["id"] for e in expected[2:]]


def test_events_follow_waits_for_new_blocks_until_its_limit(tmp_path: Path) -> None:
    with run_live_node(tmp_path) as emb:
        first = register_live(emb.url, "saic", "saic:f1")
        args = ["events", "--follow", "--from-height", "1", "--limit", "4", "--json"]
        result: list[Result] = []
        cli = threading.Thread(
            target=lambda: result.append(runner.invoke(app, [*args, "--node", emb.url]))
        )
        cli.start()
        second = register_live(emb.url, "geely", "geely:f1")  # committed while it follows
        cli.join(60)
    assert not cli.is_alive() and result
    out = result[0]
    assert out.exit_code == 0, out.output
    docs = [json.loads(line) for line in out.output.splitlines()]
    assert [d["height"] for d in docs] == [first["height"]] * 2 + [second["height"]] * 2
    assert docs[-1]["attributes"] == {"oem": "geely", "vehicle_id": "geely:f1"}


def test_events_bad_filters_print_one_typed_error_line(tmp_path: Path) -> None:
    with run_live_node(tmp_path) as emb:
        bad_type = runner.invoke(app, ["events", "--type", "Bad!", "--node", emb.url])
        no_member = runner.invoke(app, ["events", "--member", "nobody", "--node", emb.url])
        bad_height = runner.invoke(app, ["events", "--from-height", "0", "--node", emb.url])
    assert bad_type.exit_code == 1
    assert bad_type.output.strip().startswith("error invalid_event_filter:")
    assert "[name=types]" in bad_type.output
    assert (
        no_member.exit_code == 1
        and "error not_found: member 'nobody' not found" in no_member.output
    )
    assert bad_height.exit_code == 2  # refused by the option's own bound (min 1)


def test_events_against_no_node_is_node_unavailable() -> None:
    out = runner.invoke(app, ["events", "--node", "http://127.0.0.1:9"])
    assert out.exit_code == 1 and "error node_unavailable" in out.output
