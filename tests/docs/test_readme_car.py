"""The README's "Vehicle data plane" block runs as written: a real node process, a real
gateway process, ``carchain car init/drive/send/status``, a proof and its verification.

Only the two ports are moved to free ones (other tests may hold 8700/8710); every
process the script starts is in the session this test starts and is killed with it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"


def get_car_block() -> str:
    """Return the first ``sh`` block of the README's "### Vehicle data plane" section."""
    text = README.read_text()
    section = text[text.index("### Vehicle data plane\n") :]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None, "the data-plane section has no sh block"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_readme_block_uses_the_car_agent_end_to_end() -> None:
    block = get_car_block()
    for command in ("car init", "car key", "car drive", "car send", "car status", "verify"):
        assert f"carchain {command}" in block, command


@pytest.mark.timeout(300)
def test_readme_data_plane_block_runs_as_written(tmp_path: Path) -> None:
    node_port, gateway_port = free_port(), free_port()
    script = get_car_block().replace("8700", str(node_port)).replace("8710", str(gateway_port))
    bindir = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=280)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the session this test started, by its id
        proc.wait()
    text = out.decode(errors="replace")
    logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
    assert proc.returncode == 0, text + logs
    assert "initialised car home car1 for saic:1" in text
    assert re.search(r"drove 12 min: \d+ records, [3-9] batches sealed", text), text
    status = re.search(r"saic:1: 0 pending, 0 sent, (\d+) anchored", text)
    assert status is not None and int(status.group(1)) >= 3, text
    hashes = re.findall(r"^anchored .* ([0-9a-f]{64}) anchor height \d+$", text, re.M)
    assert len(hashes) == int(status.group(1)), text
    assert "wrote bundle.json and header.json" in text
    assert "verified" in text.lower(), text
    assert (tmp_path / "car1" / "state.bin").exists()
    assert b"a long passphrase" not in (tmp_path / "car1" / "car.json").read_bytes()
    # Followed in a clone, what it leaves behind is git-ignored.
    shutil.copy(README.parent / ".gitignore", tmp_path / ".gitignore")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    left = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert [line for line in left if line and not line.endswith(".gitignore")] == []
