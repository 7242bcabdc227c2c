"""Install the browser the explorer's browser tests drive, only when missing (idempotent).

The tests use Playwright for Python pointed at Debian's ``chromium`` package
(``/usr/bin/chromium``); Playwright's own browser download is never used. When the
binary is missing this installs ``chromium`` through apt-get, non-interactively,
with ``sudo`` only when not already root. It prints what it did either way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
PACKAGE = "chromium"


def apt_prefix() -> list[str]:
    """Return the command prefix that runs apt-get as root (sudo only if needed)."""
    if os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo is None:
        raise SystemExit("setup-browser: not root and no sudo: install the 'chromium' package")
    return [sudo, "-n"]


def run_apt(*args: str) -> None:
    """Run one apt-get command non-interactively, failing loudly."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = [*apt_prefix(), "apt-get", "-q", "-y", *args]
    print("setup-browser: running", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)


def chromium_version() -> str:
    """Return what the installed chromium reports as its version."""
    out = subprocess.run(
        [str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    return out.stdout.strip() or "unknown version"


def main() -> int:
    """Install chromium if missing; report what was done."""
    if CHROMIUM.exists():
        print(f"setup-browser: {CHROMIUM} present ({chromium_version()}), nothing to do")
        return 0
    print(f"setup-browser: {CHROMIUM} missing, installing Debian package '{PACKAGE}'")
    run_apt("update")
    run_apt("install", "--no-install-recommends", PACKAGE)
    if not CHROMIUM.exists():
        print(f"setup-browser: apt-get finished but {CHROMIUM} is still missing", file=sys.stderr)
        return 1
    print(f"setup-browser: installed {chromium_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
