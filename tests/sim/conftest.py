"""One demo run shared by the demo's tests: its summary, folders, console and logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rich.console import Console

from carchain.sim.demo import DemoSummary, run_demo

DEMO_VEHICLES = 60


class _Capture(logging.Handler):
    """Keeps every log record's formatted text (message, arguments and traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class DemoRun:
    """A finished demo: what it returned, where it kept its data, what it printed and logged."""

    summary: DemoSummary
    vehicles: int
    node_home: Path
    data_dir: Path
    bundle_dir: Path
    console: str
    logs: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """Run the demo once (60 vehicles) with every log record captured at DEBUG."""
    root = tmp_path_factory.mktemp("demo")
    out = io.StringIO()
    capture = _Capture()
    logger = logging.getLogger()
    old_level = logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    try:
        summary = run_demo(
            Console(file=out, width=200),
            vehicles=DEMO_VEHICLES,
            home=root / "node",
            bundle_dir=root / "proof",
            data_dir=root / "plane",
        )
    finally:
        logger.removeHandler(capture)
        logger.setLevel(old_level)
    yield DemoRun(
        summary, DEMO_VEHICLES, root / "node", root / "plane", root / "proof",
        out.getvalue(), capture.lines,
    )  # fmt: skip
