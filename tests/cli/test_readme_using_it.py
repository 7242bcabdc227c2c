"""The README's "Using it" commands run as written, in one shell, against a fresh solo
node, and every file they leave in the checkout is git-ignored."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def extract_using_it_blocks(text: str) -> list[str]:
    """Return the ``sh`` blocks of the "Using it" section, up to its first subsection
    (the V2X, data-plane, network and events parts have their own tests)."""
    start = text.index("\n## Using it\n")
    end = text.index("\n### ", start)
    return re.findall(r"```sh\n(.*?)```", text[start:end], flags=re.S)


def run_blocks(blocks: list[str], cwd: Path, port: int) -> subprocess.CompletedProcess[str]:
    """Run the blocks in one ``bash -e`` with the venv's ``carchain`` first on PATH;
    the background node's pid is written to ``node.pid`` whatever happens."""
    pidfile = cwd / "node.pid"
    script = f"set -euo pipefail\ntrap 'echo \"${{!:-}}\" > {pidfile}' EXIT\n" + "\n".join(blocks)
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(cwd),
        "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT / "src")),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    if port:  # a solo node on a free port (the README's default 8700 may be taken)
        env |= {"CARCHAIN_API_PORT": str(port), "CARCHAIN_NODE": f"http://127.0.0.1:{port}"}
    out_path, err_path = cwd.parent / "readme.out", cwd.parent / "readme.err"
    # Files, not pipes: the background node inherits them and outlives the shell.
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(
            ["bash", "-c", script], cwd=cwd, env=env, stdout=out, stderr=err,
            start_new_session=True,
        )  # fmt: skip
        try:
            proc.wait(timeout=840)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            node = pidfile.read_text().strip() if pidfile.exists() else ""
            if node.isdigit():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(node), signal.SIGKILL)
    out_text, err_text = out_path.read_text(), err_path.read_text()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out_text, err_text)


def test_readme_blocks_are_found() -> None:
    blocks = extract_using_it_blocks(README.read_text())
    assert blocks and "carchain node start" in blocks[0]
    assert not any("<" in line.split("#")[0] for b in blocks for line in b.splitlines()), (
        "a runnable block holds a <placeholder>"
    )


@pytest.mark.timeout(900)  # ~30 CLI processes, each a Python start and an scrypt unlock
def test_readme_using_it_runs_as_written(tmp_path: Path) -> None:
    blocks = extract_using_it_blocks(README.read_text())
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    res = run_blocks(blocks, checkout, free_port())
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    assert "registered saic:1" in res.stdout
    assert "VIN matches" in res.stdout
    assert "error" not in res.stderr.lower(), res.stderr
    assert (checkout / "log.json").exists() and (checkout / "saic-1.salt").exists()
    # Every file the steps left in the checkout is git-ignored there.
    created = sorted(
        p.name + ("/" if p.is_dir() else "") for p in checkout.iterdir() if p.name != "node.pid"
    )
    check = subprocess.run(
        ["git", "check-ignore", "--no-index", *created],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    ignored = set(check.stdout.split())
    assert ignored == set(created), f"not git-ignored: {set(created) - ignored}"
