"""The CLI's one CarchainError handler: one ``error <code>: <message>`` line, exit status 1."""

from __future__ import annotations

import ast
import socket
import unicodedata
from pathlib import Path

import pytest
from typer.testing import CliRunner

import carchain.cli
from carchain.cli.common import CarchainTyper
from carchain.cli.main import app
from carchain.errors import InvalidNonce, LivenessViolation, make_error

CLI_DIR = Path(carchain.cli.__file__).parent


def _app_raising(exc: Exception) -> CarchainTyper:
    demo = CarchainTyper()

    @demo.command("boom")
    def boom() -> None:
        raise exc

    @demo.command("fine")
    def fine() -> None:
        print("ok")

    return demo


def test_typed_error_prints_one_line_with_its_fields_and_exits_1() -> None:
    demo = _app_raising(InvalidNonce("nonce skips ahead\n(out of order)", expected=1, got=5))
    res = CliRunner().invoke(demo, ["boom"])
    assert res.exit_code == 1
    assert (
        res.stderr == "error invalid_nonce: nonce skips ahead (out of order) [expected=1] [got=5]\n"
    )
    assert res.stdout == ""


def test_bytes_fields_print_as_hex() -> None:
    res = CliRunner().invoke(_app_raising(LivenessViolation("dup", key=b"\xab\x01")), ["boom"])
    assert (res.exit_code, res.stderr) == (1, "error liveness_violation: dup [key=ab01]\n")


def test_other_exceptions_are_not_swallowed() -> None:
    res = CliRunner().invoke(_app_raising(RuntimeError("a bug")), ["boom"])
    assert res.exit_code == 1 and isinstance(res.exception, RuntimeError)
    assert "error " not in res.stderr


def test_the_wrapped_command_keeps_its_options() -> None:
    res = CliRunner().invoke(_app_raising(RuntimeError()), ["fine"])
    assert (res.exit_code, res.stdout) == (0, "ok\n")


def test_a_real_command_reports_an_unreachable_node_in_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = CliRunner().invoke(app, ["member", "list", "--node", f"http://127.0.0.1:{port}"])
    assert res.exit_code == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error node_unavailable: "), res.stderr


@pytest.mark.parametrize("path", sorted(CLI_DIR.glob("*.py")), ids=lambda p: p.name)
def test_no_command_module_catches_carchain_error_to_print_it(path: Path) -> None:
    # The handler is CarchainTyper's (in common.py): elsewhere a typed error is caught
    # only to change it, never to print it.
    for node in ast.walk(ast.parse(path.read_text())):
        is_typed = (
            isinstance(node, ast.ExceptHandler) and getattr(node.type, "id", "") == "CarchainError"
        )
        if is_typed and path.name != "common.py":
            calls = [n for n in ast.walk(node) if isinstance(n, ast.Call)]
            assert not any(getattr(c.func, "id", "") == "fail" for c in calls), node.lineno
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Typer":
            raise AssertionError(f"{path.name}:{node.lineno} builds a plain typer.Typer")


HOSTILE = "\x1b]0;owned\x07\x1b[2J\rgone\x08\x9b31m\u202e\x7f"


def test_a_hostile_nodes_message_and_fields_cannot_drive_the_terminal() -> None:
    exc = make_error("unregistered_vehicle", f"no such vehicle {HOSTILE}", {"vehicle_id": HOSTILE})
    res = CliRunner().invoke(_app_raising(exc), ["boom"])
    assert res.exit_code == 1
    assert res.stderr.count("\n") == 1 and res.stderr.endswith("\n")
    printed = res.stderr[:-1]
    assert not [c for c in printed if unicodedata.category(c) in ("Cc", "Cf")]
    assert printed.startswith("error unregistered_vehicle: no such vehicle ")
    assert "owned" in printed and "gone" in printed and "[vehicle_id=" in printed
