"""Install the PostgreSQL server the audit-index tests start, only when missing (idempotent).

The tests (``tests/index``) run a throwaway server from Debian's ``postgresql``
package (``/usr/lib/postgresql/<version>/bin``): ``initdb`` in a temp dir, a Unix
socket only, stopped by its pid. The package's own cluster service is not used.
When no server binary is found this installs ``postgresql`` through apt-get,
non-interactively, with ``sudo`` only when not already root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")
PACKAGE = "postgresql"


def find_server() -> Path | None:
    """Return an installed ``postgres`` server binary (the newest version), or ``None``."""
    if not PG_ROOT.is_dir():
        return None
    found = sorted(
        PG_ROOT.glob("*/bin/postgres"), key=lambda p: int("0" + p.parts[-3].split(".")[0])
    )
    return found[-1] if found else None


def apt_prefix() -> list[str]:
    """Return the command prefix that runs apt-get as root (sudo only if needed)."""
    if os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo is None:
        raise SystemExit("setup-postgres: not root and no sudo: install the 'postgresql' package")
    return [sudo, "-n"]


def run_apt(*args: str) -> None:
    """Run one apt-get command non-interactively, failing loudly."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = [*apt_prefix(), "apt-get", "-q", "-y", *args]
    print("setup-postgres: running", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)


def main() -> int:
    """Install postgresql if missing; report what was done."""
    server = find_server()
    if server is not None:
        print(f"setup-postgres: {server} present, nothing to do")
        return 0
    print(f"setup-postgres: no PostgreSQL server, installing Debian package '{PACKAGE}'")
    run_apt("update")
    run_apt("install", "--no-install-recommends", PACKAGE)
    server = find_server()
    if server is None:
        print("setup-postgres: apt-get finished but no postgres binary found", file=sys.stderr)
        return 1
    print(f"setup-postgres: installed {server}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
