"""The README's network example runs as written on a fresh ``network up``; with half the
validators killed, ``network status`` and a submit both say the quorum is lost."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from carchain.network import localnet
from tests.cli.test_readme_using_it import README, run_blocks
from tests.network.conftest import require_network_setup

pytestmark = [pytest.mark.network, pytest.mark.timeout(900)]


def extract_network_block(text: str) -> str:
    """Return the ``sh`` block of the README's "A consortium network" section."""
    start = text.index("\n### A consortium network")
    end = text.index("\n### ", start + 1)
    blocks = re.findall(r"```sh\n(.*?)```", text[start:end], flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_readme_network_example_and_lost_quorum() -> None:
    require_network_setup()
    # A short path: the ABCI Unix sockets live under the network home (108-byte limit).
    short = Path(tempfile.mkdtemp(prefix="rn", dir="/tmp"))
    checkout = short / "checkout"
    checkout.mkdir()
    net_home = checkout / ".carchain" / "network"  # HOME is the checkout in run_blocks
    block = extract_network_block(README.read_text())
    lost = (
        'eval "$(carchain network env)"\n'
        "carchain network up --validators 4\n"
        "carchain network kill node2 && carchain network kill node3\n"
        "carchain network status\n"
        "carchain vehicle register --key saic --vehicle-id saic:2 --vin LSVAX4181E2100001 "
        "--public-key $(carchain keys show car1) --owner owner1 --model RX5 --year 2024 "
        "|| echo submit-exit=$?\n"
    )
    try:
        res = run_blocks([block], checkout, 0)
        assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
        assert "CARCHAIN_PASSPHRASE=carchain-localnet" in res.stdout
        assert str((net_home / "keys").resolve()) in res.stdout
        assert "registered saic:1" in res.stdout and "verified" in res.stdout
        res = run_blocks([lost], checkout, 0)
        assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
        assert "quorum lost: 2 of 4 validators running, 3 needed" in res.stdout
        assert "submit-exit=1" in res.stdout
        assert "error quorum_lost: " in res.stderr and "internal" not in res.stderr
    finally:
        if (net_home / "network.json").exists():
            localnet.down(net_home)
        shutil.rmtree(short, ignore_errors=True)
