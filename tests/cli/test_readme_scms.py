"""The README's "V2X pseudonyms and revocation (SCMS)" block runs as written in a checkout:
its own node, both governance proposals, pseudonyms for two cars, a misbehaviour report,
the review, both linkage authorities' seeds and the revocation; what it leaves is git-ignored.

Only the node's port is moved to a free one (another test may hold 8720)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_cli import free_port
from tests.cli.test_readme_using_it import README, ROOT, run_blocks


def get_scms_block(text: str) -> str:
    """Return the ``sh`` block of the README's SCMS section."""
    section = text[text.index("### V2X pseudonyms and revocation (SCMS)\n") :]
    match = re.search(r"```sh\n(.*?)```", section[: section.index("\n### ", 1)], re.S)
    assert match is not None, "the SCMS section has no sh block"
    return match.group(1)


def test_scms_block_has_no_placeholder() -> None:
    block = get_scms_block(README.read_text())
    code = [line.split("#")[0] for line in block.splitlines()]
    assert not any(re.search(r"<[a-z][^<>]*>", line) for line in code), block
    for step in ("report ", "review ", "la-seed", "release-seed", "revocations"):
        assert f"carchain v2x {step}" in block, step


@pytest.mark.timeout(600)
def test_readme_scms_block_runs_as_written(tmp_path: Path) -> None:
    port = free_port()
    block = get_scms_block(README.read_text()).replace("8720", str(port))
    checkout = tmp_path / "checkout"
    (checkout / "docs" / "examples").mkdir(parents=True)
    shutil.copy(ROOT / "docs" / "examples" / "cam.json", checkout / "docs" / "examples")
    # No port for run_blocks: the block sets its own CARCHAIN_NODE. Its last line stops the
    # node; if a step fails before, the helper kills it by the pid in node.pid, which this
    # trap writes from the block's own $V2X_NODE (``$!`` is not it: ``< <(...)`` moves it).
    assert block.rstrip().endswith("kill $V2X_NODE")
    trap = f"trap 'echo \"${{V2X_NODE:-}}\" > {checkout / 'node.pid'}' EXIT"
    res = run_blocks([trap, block], checkout, 0)
    out = res.stdout
    assert res.returncode == 0, (out[-3000:], res.stderr[-3000:])
    assert "error" not in res.stderr.lower(), res.stderr
    assert out.count("executed (yes 4, no 0)") == 2  # both proposals, 4 of 5 members
    assert "20 pseudonyms for saic:1" in out and "20 pseudonyms for saic:2" in out
    said = re.search(r"issuing CA ([0-9a-f]{16}), linkage value ([0-9a-f]{18}), period (\d+)", out)
    assert said is not None, out[-3000:]
    ca, lv, period = said.groups()
    assert f"pseudonym CA {ca} proposed" in out  # the CA the chain registered issued it
    assert "report 1 submitted" in out
    shown = re.search(r"^report 1 evidence \(impossible_speed\): ([0-9a-f]+)$", out, re.M)
    assert shown is not None, out[-3000:]  # on one line, whatever the width
    assert bytes.fromhex(shown.group(1))[:2] == b"\x03\x81"  # 1609.2 v3 signed data
    assert "report 1: revoke (decision 1)" in out
    assert "decision 1: seed released" in out and "decision 1: revoked" in out
    assert f"{lv} in period {period}: revoked" in out
    assert f"20 pseudonyms for saic:1 from period {period}:" in out  # this week's
    created = sorted(
        p.name + ("/" if p.is_dir() else "")
        for p in checkout.iterdir()
        if p.name not in ("node.pid", "docs")
    )
    assert created == ["scms/", "v2x-keys/", "v2x-node.log", "v2x-node/"], created
    check = subprocess.run(
        ["git", "check-ignore", "--no-index", *created],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert set(check.stdout.split()) == set(created)
