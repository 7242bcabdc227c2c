"""The log formats: JSON lines with structured fields, text lines, httpx kept quiet."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from carchain.telemetry.logs import configure_logging, validate_log_format


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {n: logging.getLogger(n).level for n in ("httpx", "httpcore", "uvicorn.access")}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, lvl in quiet.items():
            logging.getLogger(name).setLevel(lvl)


def test_json_lines_carry_fields_and_httpx_is_quiet(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    logging.getLogger("carchain.test").info("hello %s", "world", extra={"fields": {"n": 3}})
    logging.getLogger("httpx").info('HTTP Request: GET http://x/vehicles?owner=SECRET "200"')
    logging.getLogger("httpcore.connection").info("connect_tcp SECRET")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("carchain.test").exception("failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["message"] == "hello world" and first["n"] == 3
    assert first["level"] == "info" and first["logger"] == "carchain.test"
    assert first["time"].endswith("+00:00")
    assert second["level"] == "error" and "ValueError: boom" in second["exception"]
    assert "SECRET" not in stream.getvalue()


def test_fields_never_overwrite_the_standard_keys(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    logging.getLogger("carchain.test").info("real", extra={"fields": {"message": "fake"}})
    assert json.loads(stream.getvalue())["message"] == "real"


def test_text_format_is_one_plain_line(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    logging.getLogger("carchain.test").warning("careful")
    (line,) = stream.getvalue().splitlines()
    assert line.endswith("WARNING carchain.test: careful")


@pytest.mark.parametrize("bad", ["", "JSON", "xml", "text "])
def test_invalid_log_format_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="text, json"):
        validate_log_format(bad)


def test_default_handler_follows_stderr_and_keeps_other_handlers(
    restore_root: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server configured while stderr was one stream (a CLI runner's capture, closed
    since) still logs to the stderr of the moment; handlers it did not add survive."""
    other = logging.StreamHandler(io.StringIO())
    logging.getLogger().addHandler(other)
    first = io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    configure_logging("text")
    configure_logging("json")  # a second call replaces its own handler only
    first.close()
    now = io.StringIO()
    monkeypatch.setattr("sys.stderr", now)
    logging.getLogger("carchain.request").info("after", extra={"fields": {"status": 200}})
    lines = now.getvalue().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["message"] == "after"
    assert other in logging.getLogger().handlers
