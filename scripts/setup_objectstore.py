"""Install the SeaweedFS binary the S3 blob store's tests run against, only when missing.

The pinned SeaweedFS module is built with the machine's Go from the Go module
proxy into ``.tools/bin/weed`` (idempotent: nothing happens when that binary
reports the pinned version and commit). ``go install module@version`` refuses
this module (its go.mod has replace directives), so the module's source is
downloaded into the Go module cache, copied to a temporary folder (the cache is
read-only and the build writes go.sum) and built there with ``go build``; its
dependencies, compiled from the module cache, are reused from Go's build cache
by a later build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".tools" / "bin"
WEED = BIN / "weed"
SEAWEEDFS_MODULE = "github.com/seaweedfs/seaweedfs"
SEAWEEDFS_VERSION = "v0.0.0-20261109003541-7506e5f91cd6"
SEAWEEDFS_RELEASE = "4.53"  # what weed/util/version says at that commit
COMMIT = SEAWEEDFS_VERSION.rsplit("-", 1)[1]
VERSION_VAR = f"{SEAWEEDFS_MODULE}/weed/util/version.COMMIT"


def installed_version() -> str | None:
    """Return what the installed binary's ``weed version`` prints, if anything."""
    if not WEED.exists():
        return None
    try:
        out = subprocess.run([str(WEED), "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def is_pinned(version: str | None) -> bool:
    """Return whether ``weed version`` output names the pinned release and commit."""
    return version is not None and f" {SEAWEEDFS_RELEASE} {COMMIT} " in f" {version} "


def find_go() -> str:
    """Return the Go command, or stop with how to get it."""
    go = shutil.which("go")
    if go is None:
        sys.exit("setup: Go is needed to build SeaweedFS for the S3 tests (apt install golang)")
    return go


def download_module(go: str, env: dict[str, str]) -> Path:
    """Download the pinned module into the Go module cache; return its folder."""
    out = subprocess.run(
        [go, "mod", "download", "-json", f"{SEAWEEDFS_MODULE}@{SEAWEEDFS_VERSION}"],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    folder = json.loads(out.stdout).get("Dir")
    if not folder:
        sys.exit(f"setup: go mod download gave no folder for {SEAWEEDFS_MODULE}")
    return Path(folder)


def install_weed() -> None:
    """Build the pinned SeaweedFS into .tools/bin unless it is already there."""
    if is_pinned(installed_version()):
        return
    go = find_go()
    env = dict(os.environ, GOFLAGS="-mod=mod", GOTOOLCHAIN="auto")
    print(
        f"setup: building SeaweedFS {SEAWEEDFS_RELEASE} ({COMMIT}) for the S3 tests "
        "(once; several minutes: a large module)", flush=True,
    )  # fmt: skip
    source = download_module(go, env)
    BIN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="seaweedfs-build-") as tmp:
        work = Path(tmp) / "seaweedfs"
        shutil.copytree(source, work)  # the module cache is read-only; go build writes go.sum
        subprocess.run(["chmod", "-R", "u+w", str(work)], check=True)
        built = Path(tmp) / "weed"
        subprocess.run(
            [go, "build", "-ldflags", f"-X {VERSION_VAR}={COMMIT}",
             "-o", str(built), "./weed"],
            cwd=work, env=env, check=True,
        )  # fmt: skip
        staged = BIN / "weed.new"
        shutil.copy2(built, staged)
        os.replace(staged, WEED)  # a running weed keeps its old file
    got = installed_version()
    if not is_pinned(got):
        sys.exit(f"setup: weed reports {got!r}, expected {SEAWEEDFS_RELEASE} {COMMIT}")


def main() -> None:
    """Install what the S3 blob store's tests need."""
    install_weed()


if __name__ == "__main__":
    main()
