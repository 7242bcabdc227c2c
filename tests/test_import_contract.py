"""The import contract (pyproject's ``[tool.importlinter]``) holds, and it catches an
arrow pointing outward: a copy of ``src/`` with one bad import fails the check."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy_project(tmp: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    shutil.copytree(
        ROOT / "src" / "carchain",
        tmp / "src" / "carchain",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return tmp / "src" / "carchain"


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=project,
        env={"PYTHONPATH": str(project / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _add_import(module: Path, line: str) -> None:
    text = module.read_text()
    anchor = "from __future__ import annotations\n"
    module.write_text(text.replace(anchor, anchor + line + "\n", 1))


@pytest.fixture(scope="module")
def lint_available() -> None:
    if not LINT_IMPORTS.exists():
        pytest.fail("lint-imports is not installed (make setup installs the dev extras)")


def test_project_keeps_its_import_contract(tmp_path: Path, lint_available: None) -> None:
    _copy_project(tmp_path)
    done = _lint(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "message"),
    [
        (
            "engine/mempool.py",
            "import carchain.node.home",
            "carchain.engine is not allowed to import carchain.node",
        ),
        ("core/state.py", "import carchain.storage", "carchain.core is not allowed to import"),
        ("node/backend.py", "import carchain.api.app", "carchain.node is not allowed to import"),
        ("core/accounts.py", "import time", "The core is pure"),
        ("sdk/http.py", "import sqlite3", "The SDK is a client"),
    ],
)
def test_invalid_outward_import_breaks_the_contract(
    tmp_path: Path, lint_available: None, module: str, line: str, message: str
) -> None:
    package = _copy_project(tmp_path)
    _add_import(package / module, line)
    done = _lint(tmp_path)
    assert done.returncode != 0
    assert message in done.stdout, done.stdout
