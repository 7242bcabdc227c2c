"""The application process of a network node: ABCI server and node API, one event loop.

Run as ``python -m carchain.cli.appnode --home NODE/app [--abci ADDRESS]`` (the entry
point at the top, which passes the node API in: this module never imports ``api/``).
``--log-format json`` writes JSON log lines (the request log included); once the API
accepts connections it prints ``listening on URL`` and ``home: PATH``. It locks the
home (a second process on it exits with one line), opens the state database (a
state whose commitment does not match its stored app hash raises
``StorageCorrupted`` here, and the process exits with status 3 instead of
serving), serves ABCI to its CometBFT and the REST API to clients, and
stops on SIGTERM/SIGINT or when a consensus request fails (status 2).
ABCI is served at ``ADDRESS``, else ``abci_address`` of ``node.json``, else
(older homes) ``tcp://127.0.0.1:<abci_port>``.

``CARCHAIN_ABCI_PROFILE=<path>`` makes it time its ABCI phases in CPU seconds and
write them to ``<path>`` as JSON when it stops (``carchain.engine.abci.profile``;
the network benchmark prints them).

Once its state is open it moves every object made so far out of the cyclic
garbage collector's reach (``gc.freeze``: they live as long as the process) and
collects the youngest generation every ``GC_GEN0_THRESHOLD`` allocations instead of
CPython's 700 (``tune_gc``); ``CARCHAIN_PYTHON_GC=default`` keeps CPython's
collector as it is (the network benchmark compares both).

``CARCHAIN_CRASH_BEFORE_COMMIT=<height>`` makes the process SIGKILL itself
after executing that block and before committing it: the fault tests use it to
crash a node in the middle of a block.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from carchain.engine.abci.adapter import AbciAdapter
from carchain.engine.abci.address import AbciAddress, parse_abci_address
from carchain.engine.abci.blocklog import DecidedBlock
from carchain.engine.abci.profile import PROFILE_ENV, PhaseProfile
from carchain.engine.abci.server import AbciServer
from carchain.engine.application import Application
from carchain.errors import CarchainError, HomeLocked, StorageCorrupted
from carchain.network.backend import CometBackend
from carchain.network.layout import HOST
from carchain.network.rpc import CometRpc
from carchain.node.backend import ApiFactory
from carchain.node.home import HomeLock
from carchain.node.server import SHUTDOWN_GRACE_S
from carchain.storage.database import Database
from carchain.storage.history import DEFAULT_STATE_VERSIONS, validate_state_versions
from carchain.telemetry.logs import (
    LOG_FORMATS,
    configure_logging,
    print_start_lines,
    validate_log_format,
)

log = logging.getLogger("carchain.appnode")
CRASH_ENV = "CARCHAIN_CRASH_BEFORE_COMMIT"
EXIT_FATAL = 2
EXIT_CORRUPTED = 3
GC_ENV = "CARCHAIN_PYTHON_GC"
# A young-generation collection every 10,000 allocations (CPython: 700); the older
# generations every 10 of the younger ones, as in CPython.
GC_GEN0_THRESHOLD = 10_000


def tune_gc() -> bool:
    """Freeze the objects made so far and collect less often, unless ``CARCHAIN_PYTHON_GC``
    is ``default``; return whether the collector was tuned."""
    if os.environ.get(GC_ENV) == "default":
        return False
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 10, 10)
    return True


def install_crash_hook(adapter: AbciAdapter, height: int) -> None:
    """Make the process die by SIGKILL between FinalizeBlock and Commit of ``height``."""

    def crash(block: DecidedBlock) -> None:
        if block.height == height:
            log.warning("fault injection: SIGKILL before committing height %d", height)
            os.kill(os.getpid(), signal.SIGKILL)

    adapter.before_commit = crash


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal capture: this process handles SIGTERM/SIGINT
    itself (uvicorn would re-raise them after shutdown and skip our cleanup).
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signal handling to the process."""
        yield


def get_abci_address(cfg: dict[str, object], override: str | None) -> AbciAddress:
    """Return where to serve ABCI: the override, ``node.json``'s address, or its TCP port."""
    text = override or cfg.get("abci_address") or f"tcp://{HOST}:{cfg['abci_port']}"
    return parse_abci_address(str(text))


def get_state_versions(cfg: dict[str, object], override: int | None) -> int:
    """Return the window of kept heights: the override or ``node.json``'s, validated."""
    versions = cfg.get("state_versions", DEFAULT_STATE_VERSIONS) if override is None else override
    try:
        if not isinstance(versions, int):
            raise ValueError("state_versions must be an integer of at least 1")
        validate_state_versions(versions)
    except ValueError as bad:
        raise CarchainError(f"{bad} (node.json or --state-versions)") from bad
    return versions


def open_adapter(app_home: Path, versions: int) -> tuple[Database, AbciAdapter]:
    """Open the state database and the ABCI adapter over it (with the test crash hook)."""
    db = Database(app_home / "data" / "state.db")
    adapter = AbciAdapter(Application(db, versions))
    crash_at = os.environ.get(CRASH_ENV)
    if crash_at:
        install_crash_hook(adapter, int(crash_at))
    return db, adapter


async def serve(
    app_home: Path,
    make_api: ApiFactory,
    abci_override: str | None = None,
    state_versions: int | None = None,
) -> int:
    """Serve ABCI and the API ``make_api`` builds until stopped; return the exit status.

    ``state_versions`` overrides ``node.json``'s window of kept heights.
    """
    cfg = json.loads((app_home / "node.json").read_text())
    address = get_abci_address(cfg, abci_override)
    db, adapter = open_adapter(app_home, get_state_versions(cfg, state_versions))
    profile_path = os.environ.get(PROFILE_ENV)
    profile = PhaseProfile() if profile_path else None
    if profile is not None:
        profile.watch_gc()
    abci = AbciServer(adapter, address, profile)
    rpc = CometRpc(f"http://{HOST}:{int(cfg['rpc_port'])}")
    backend = CometBackend(adapter, rpc)
    backend.bind_loop(asyncio.get_running_loop())
    await abci.start()
    config = uvicorn.Config(
        make_api(backend), host=HOST, port=int(cfg["api_port"]), log_level="warning",
        access_log=False, timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )  # fmt: skip
    api = ApiServer(config)
    tune_gc()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, abci.close)
    api_task = asyncio.create_task(api.serve())
    announce = asyncio.create_task(
        _announce(api, f"http://{HOST}:{int(cfg['api_port'])}", app_home)
    )
    reconciler = asyncio.create_task(backend.run_pending_reconciler())
    try:
        return await _wait_for_stop(api_task, abci, backend)
    finally:
        announce.cancel()
        reconciler.cancel()
        api.should_exit = True
        abci.close()
        with contextlib.suppress(Exception):
            await api_task
        await rpc.aclose()
        db.close()
        if profile is not None and profile_path:
            profile.unwatch_gc()
            profile.save(Path(profile_path))


async def _announce(api: uvicorn.Server, url: str, app_home: Path) -> None:
    """Print the API's URL and the home once the API accepts connections."""
    while not api.started:
        if api.should_exit:
            return
        await asyncio.sleep(0.02)
    print_start_lines(url, str(app_home.resolve()))


async def _wait_for_stop(
    api_task: asyncio.Task[None], abci: AbciServer, backend: CometBackend
) -> int:
    """Run until the API or the ABCI server stops, or the state disagrees with CometBFT;
    return the exit status."""
    abci_task = asyncio.create_task(abci.wait_closed())
    agreement = asyncio.create_task(backend.validate_consensus_agreement())
    tasks: set[asyncio.Task[None]] = {api_task, abci_task, agreement}
    try:
        while True:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if agreement not in done:
                break
            tasks.discard(agreement)
            exc = agreement.exception()
            if isinstance(exc, StorageCorrupted):
                log.critical("refusing to run: %s (%s)", exc.message, exc.code)
                return EXIT_CORRUPTED
            if exc is not None:
                log.warning("could not compare app hashes with CometBFT: %r", exc)
        if abci_task in done and abci_task.exception() is not None:
            log.critical("ABCI server stopped on error: %r", abci_task.exception())
            return EXIT_FATAL
        return 0
    finally:
        agreement.cancel()


def main(make_api: ApiFactory, argv: list[str] | None = None) -> int:
    """Parse arguments and run the application process, serving the API ``make_api`` builds."""
    parser = argparse.ArgumentParser(prog="carchain-appnode")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument(
        "--abci",
        default=None,
        help="ABCI address: unix:///ABS/PATH (default: abci.sock in the home) or "
        "tcp://127.0.0.1:PORT (explicit; any local user can then connect)",
    )
    parser.add_argument("--state-versions", type=int, default=None)
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text")
    args = parser.parse_args(argv)
    configure_logging(validate_log_format(args.log_format))
    try:
        with HomeLock(args.home):
            return asyncio.run(serve(args.home, make_api, args.abci, args.state_versions))
    except HomeLocked as exc:
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_FATAL
    except StorageCorrupted as exc:
        log.critical("refusing to start: %s (%s)", exc.message, exc.code)
        return EXIT_CORRUPTED
    except CarchainError as exc:
        log.critical("cannot start: %s (%s)", exc.message, exc.code)
        return EXIT_FATAL
