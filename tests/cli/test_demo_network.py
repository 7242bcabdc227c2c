"""``carchain demo --network``: refused combinations fail with a typed error before any
process starts (the localnet run itself: ``tests/network/test_story_localnet.py``)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from carchain.cli.main import app


def test_invalid_demo_network_with_serve(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--network", "--serve", "--home", str(home)])
    assert result.exit_code == 1
    assert "invalid_option" in result.output and "--serve" in result.output
    assert not home.exists()  # nothing created, no localnet started


def test_invalid_demo_network_in_a_home_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "network.json").write_text("{}")
    result = CliRunner().invoke(app, ["demo", "--network", "--home", str(tmp_path / "taken")])
    assert result.exit_code == 1 and "not empty" in result.output
    assert (tmp_path / "taken" / "network.json").read_text() == "{}"


def test_demo_help_names_the_network_option() -> None:
    result = CliRunner().invoke(app, ["demo", "--help"])
    assert result.exit_code == 0 and "--network" in result.output


def test_invalid_tour_options_without_classic_are_named(tmp_path: Path) -> None:
    for extra in (["--bundle-out", str(tmp_path / "proof")], ["--no-case"]):
        result = CliRunner().invoke(app, ["demo", *extra, "--home", str(tmp_path / "h")])
        assert result.exit_code == 1
        assert "invalid_option" in result.output and "--classic" in result.output
        assert not (tmp_path / "h").exists() and not (tmp_path / "proof").exists()
