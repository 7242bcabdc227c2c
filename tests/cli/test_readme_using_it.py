"""The README's "Using it" commands run as written, in one shell, against a fresh solo
node: the walkthrough, then the "more commands" block that goes on from it (tx status,
offline verification against a block hash, a court's hold, a release and its receipt, the
OEM's statement); every file they leave in the checkout is git-ignored."""

from __future__ import annotations

import contextlib
import json
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
    port = free_port()
    text = README.read_text().replace("http://127.0.0.1:8700/", f"http://127.0.0.1:{port}/")
    blocks = extract_using_it_blocks(text)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    res = run_blocks(blocks, checkout, port)
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    assert "registered saic:1" in res.stdout
    assert "VIN matches" in res.stdout
    assert "error" not in res.stderr.lower(), res.stderr
    check_more_commands(res.stdout, checkout)
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


def check_more_commands(out: str, checkout: Path) -> None:
    """The second block's commands did what they say, on values the first block made."""
    last = max(int(h) for h in re.findall(r"at height (\d+)", out))
    assert re.search(r"committed in block \d+", out), out[-3000:]
    assert "verified access log of saic:1" in out
    log_height = json.loads((checkout / "log.json").read_text())["height"]
    assert f"at height {log_height} of chain carchain-local" in out
    assert "proposal 2: executed" in out
    assert "legal hold 0 on saic:1 placed" in out and "legal hold 0 on saic:1 lifted" in out
    assert "approved request 1 of saic:1 (diagnostics: grant 1)" in out
    assert "released request 1 of saic:1 (1 batches)" in out
    assert "receipted 1 batches of request 1 of saic:1" in out
    assert "verified 0 releases" in out  # no lawful-access release on this chain
    statement = json.loads((checkout / "st.json").read_text())
    assert statement["vehicle_id"] == "saic:1" and statement["height"] <= last
    said = r"verified between .* (\d+) disclosures of saic:1's data happened and no others"
    found = re.search(said, out)
    assert found is not None and int(found.group(1)) >= 1, out[-3000:]  # the release above
