"""Log formats of the long-running processes: human text or JSON lines.

JSON lines carry ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and
whatever structured fields a call passed in ``extra={"fields": {...}}`` (the
request log does). httpx and httpcore are kept at WARNING: at INFO they log every
request URL, query string included.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = ("httpx", "httpcore", "uvicorn.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as one line of JSON."""
        doc: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update({str(k): v for k, v in fields.items() if str(k) not in doc})
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, separators=(",", ":"))


def validate_log_format(name: str) -> LogFormat:
    """Return ``name`` as a log format; raise ``ValueError`` unless it is text or json."""
    for fmt in LOG_FORMATS:
        if name == fmt:
            return fmt
    raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {name!r}")


class CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever ``sys.stderr`` is when a record is emitted (not the
    stream at setup: one replaced since, as a test runner's capture, may be closed)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` to the current standard error."""
        self.stream = sys.stderr
        super().emit(record)


CARCHAIN_HANDLER = "carchain"


def configure_logging(
    fmt: LogFormat = "text", level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Send the root logger's records to ``stream`` (default: the current stderr) in
    ``fmt``, replacing the handler an earlier call installed (and only that); quiet httpx."""
    handler: logging.StreamHandler = (  # type: ignore[type-arg]
        logging.StreamHandler(stream) if stream is not None else CurrentStderrHandler()
    )
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.set_name(CARCHAIN_HANDLER)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == CARCHAIN_HANDLER:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def print_start_lines(url: str, home: str) -> None:
    """Print what a starting server tells its operator, on stdout (logs go to stderr)."""
    print(f"listening on {url}", flush=True)
    print(f"home: {home}", flush=True)
