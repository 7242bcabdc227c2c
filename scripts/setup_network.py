"""Install what the CometBFT network needs, only when missing (idempotent).

1. The pinned CometBFT binary, built with the machine's Go from the Go module
   proxy into ``.tools/bin``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
BIN = TOOLS / "bin"
COMETBFT_MODULE = "github.com/cometbft/cometbft"
COMETBFT_VERSION = "v0.38.26"
COMETBFT = BIN / "cometbft"


def installed_version() -> str | None:
    """Return the version the installed binary reports, if any."""
    if not COMETBFT.exists():
        return None
    try:
        out = subprocess.run([str(COMETBFT), "version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return out.stdout.strip() or None


def install_cometbft() -> None:
    """Build the pinned CometBFT into .tools/bin unless it is already there."""
    want = COMETBFT_VERSION.lstrip("v")
    if installed_version() == want:
        return
    go = shutil.which("go")
    if go is None:
        sys.exit("setup: Go is needed to build CometBFT for the network tests (apt install golang)")
    BIN.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOBIN=str(BIN), GOFLAGS="-mod=mod", GOTOOLCHAIN="auto")
    print(f"setup: building cometbft {COMETBFT_VERSION} (once; about two minutes)", flush=True)
    subprocess.run([go, "install", f"{COMETBFT_MODULE}/cmd/cometbft@{COMETBFT_VERSION}"],
                   check=True, env=env)
    got = installed_version()
    if got != want:
        sys.exit(f"setup: cometbft reports version {got!r}, expected {want}")


def main() -> None:
    """Install everything the network tests need."""
    install_cometbft()


if __name__ == "__main__":
    main()
