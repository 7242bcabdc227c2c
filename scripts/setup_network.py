"""Install what the CometBFT network needs, only when missing (idempotent).

1. The pinned CometBFT binary, built with the machine's Go from the Go module
   proxy into ``.tools/bin``.
2. CometBFT's ``abci-cli`` of that same module version, also into ``.tools/bin``:
   its ``kvstore`` is the reference application ``bench/bench_network.py`` runs
   over the ABCI socket beside carchain's.
3. The Python protobuf classes of the ABCI protocol, generated with grpcio-tools
   from the ``.proto`` files of that same module version in the Go module cache,
   into the git-ignored ``generated/`` folder. Nothing of CometBFT is committed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
BIN = TOOLS / "bin"
GENERATED = ROOT / "generated"
COMETBFT_MODULE = "github.com/cometbft/cometbft"
COMETBFT_VERSION = "v0.38.26"
COMETBFT = BIN / "cometbft"
ABCI_CLI = BIN / "abci-cli"
GOGOPROTO_MODULE = "github.com/cosmos/gogoproto"
# The proto packages the ABCI server and the light client use.
PROTO_DIRS = ("tendermint/abci", "tendermint/crypto", "tendermint/types", "tendermint/version")


def installed_version() -> str | None:
    """Return the version the installed binary reports, if any."""
    if not COMETBFT.exists():
        return None
    try:
        out = subprocess.run([str(COMETBFT), "version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return out.stdout.strip() or None


def go_env(name: str) -> str:
    """Return one ``go env`` value."""
    go = shutil.which("go")
    if go is None:
        sys.exit("setup: Go is needed for the CometBFT network (apt install golang)")
    return subprocess.run(
        [go, "env", name], capture_output=True, text=True, check=True
    ).stdout.strip()


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
    subprocess.run(
        [go, "install", f"{COMETBFT_MODULE}/cmd/cometbft@{COMETBFT_VERSION}"], check=True, env=env
    )
    got = installed_version()
    if got != want:
        sys.exit(f"setup: cometbft reports version {got!r}, expected {want}")


def built_module_version(binary: Path, module: str = COMETBFT_MODULE) -> str | None:
    """Return the version of ``module`` a Go binary was built from (``go version -m``)."""
    go = shutil.which("go")
    if go is None or not binary.exists():
        return None
    out = subprocess.run([go, "version", "-m", str(binary)], capture_output=True, text=True)
    match = re.search(rf"^\s*mod\s+{re.escape(module)}\s+(v\S+)", out.stdout, re.MULTILINE)
    return match.group(1) if match else None


def install_abci_cli(bin_dir: Path = BIN) -> Path:
    """Build the pinned CometBFT's ``abci-cli`` into ``bin_dir`` unless it is already there
    (built from the same module version); return its path."""
    binary = bin_dir / "abci-cli"
    if built_module_version(binary) == COMETBFT_VERSION:
        return binary
    go = shutil.which("go")
    if go is None:
        sys.exit("setup: Go is needed to build abci-cli for the network benchmark")
    bin_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOBIN=str(bin_dir), GOFLAGS="-mod=mod", GOTOOLCHAIN="auto")
    print(f"setup: building abci-cli {COMETBFT_VERSION} (once; about a minute)", flush=True)
    subprocess.run(
        [go, "install", f"{COMETBFT_MODULE}/abci/cmd/abci-cli@{COMETBFT_VERSION}"],
        check=True,
        env=env,
    )
    got = built_module_version(binary)
    if got != COMETBFT_VERSION:
        sys.exit(f"setup: abci-cli was built from {got!r}, expected {COMETBFT_VERSION}")
    return binary


def module_dir(modcache: Path, module: str, version: str) -> Path:
    """Return a module's folder in the Go module cache, downloading it if it is missing."""
    path = modcache / f"{module}@{version}"
    if not path.exists():
        go = shutil.which("go") or "go"
        env = dict(os.environ, GOFLAGS="-mod=mod", GOTOOLCHAIN="auto")
        subprocess.run([go, "mod", "download", f"{module}@{version}"], check=True, env=env)
    if not path.exists():
        sys.exit(f"setup: {module}@{version} is not in the Go module cache ({path})")
    return path


def generate_protos() -> None:
    """Generate the ABCI protobuf modules into generated/ unless they match the pin."""
    stamp = GENERATED / "COMETBFT_VERSION"
    if stamp.exists() and stamp.read_text().strip() == COMETBFT_VERSION:
        return
    modcache = Path(go_env("GOMODCACHE"))
    comet = module_dir(modcache, COMETBFT_MODULE, COMETBFT_VERSION)
    match = re.search(rf"{re.escape(GOGOPROTO_MODULE)} (v\S+)", (comet / "go.mod").read_text())
    if match is None:
        sys.exit("setup: cannot find the gogoproto version in CometBFT's go.mod")
    gogo = module_dir(modcache, GOGOPROTO_MODULE, match.group(1))
    import grpc_tools  # the pinned grpcio-tools of the `network` extra
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(
        str(p.relative_to(comet / "proto"))
        for d in PROTO_DIRS
        for p in (comet / "proto" / d).glob("*.proto")
    )
    if GENERATED.exists():
        shutil.rmtree(GENERATED)
    GENERATED.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{comet / 'proto'}",
        f"-I{gogo}",
        f"-I{well_known}",
        f"--python_out={GENERATED}",
        "gogoproto/gogo.proto",
        *protos,
    ]
    print(f"setup: generating ABCI protobuf modules from cometbft {COMETBFT_VERSION}", flush=True)
    if protoc.main(args) != 0:
        sys.exit("setup: protoc failed")
    # Namespace packages need no __init__; the stamp records the source version.
    stamp.write_text(COMETBFT_VERSION + "\n")


def main() -> None:
    """Install everything the network tests need."""
    install_cometbft()
    install_abci_cli()
    generate_protos()


if __name__ == "__main__":
    main()
