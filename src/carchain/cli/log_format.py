"""The ``--log-format text|json`` option of the long-running commands."""

from __future__ import annotations

from typing import Annotated

import typer

from carchain.telemetry.logs import LOG_FORMATS, LogFormat, configure_logging, validate_log_format

LogFormatOpt = Annotated[
    str,
    typer.Option(
        "--log-format",
        help=f"Log lines on stderr: {' or '.join(LOG_FORMATS)} (JSON lines, one request "
        "line per request: method, route template, status, duration).",
    ),
]


def parse_log_format(name: str) -> LogFormat:
    """Return the log format ``name`` names; a one-line usage error if it is neither."""
    try:
        return validate_log_format(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--log-format") from None


def setup_logging(name: str) -> LogFormat:
    """Configure the process's logs in the format ``name``; return it."""
    fmt = parse_log_format(name)
    configure_logging(fmt)
    return fmt
