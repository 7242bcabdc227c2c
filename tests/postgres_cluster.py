"""A throwaway PostgreSQL server for tests and benchmarks: ``initdb`` in a temp dir,
``postgres`` listening on a Unix socket only, stopped by its pid.

PostgreSQL refuses to run as root: when the tests run as root, the server runs as
the ``postgres`` OS user (``subprocess.Popen(user=...)``, so the pid we hold is the
server's own) with the data and socket dirs owned by it. The binaries are Debian's
(``postgresql`` package, ``scripts/setup_postgres.py`` installs it).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

PG_ROOTS = (Path("/usr/lib/postgresql"),)
SUPERUSER = "carchain"
START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 15.0


def find_pg_bin() -> Path | None:
    """Return the newest installed PostgreSQL ``bin`` directory, or ``None``."""
    for root in PG_ROOTS:
        if root.is_dir():
            versions = sorted(
                (p for p in root.iterdir() if (p / "bin" / "postgres").exists()),
                key=lambda p: int(p.name) if p.name.isdigit() else 0,
            )
            if versions:
                return versions[-1] / "bin"
    return None


def _run_as() -> str | None:
    """Return the OS user the server must run as (``postgres`` when we are root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError("running as root and there is no 'postgres' user") from exc
    return "postgres"


def _wait_ready(dsn: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            psycopg.connect(dsn, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError("postgres did not accept connections in time") from None
            time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server by its pid: SIGINT (fast shutdown), wait, then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_DEADLINE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_DEADLINE_S)


@contextlib.contextmanager
def run_cluster(bin_dir: Path) -> Iterator[str]:
    """Yield the DSN (database ``postgres``) of a fresh server; stop and delete it after."""
    user = _run_as()
    base = Path(tempfile.mkdtemp(prefix="carchain-pg-"))
    if user is not None:
        shutil.chown(base, user)
    data, log = base / "data", base / "server.log"
    try:
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust",
             "-E", "UTF8", "--no-sync", "--no-instructions"],
            check=True, capture_output=True, user=user, timeout=120,
        )  # fmt: skip
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data), "-k", str(base),
                 "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off"],
                stdout=out, stderr=subprocess.STDOUT, user=user,
            )  # fmt: skip
        try:
            dsn = f"host={base} user={SUPERUSER} dbname=postgres"
            _wait_ready(dsn, proc, log)
            yield dsn
        finally:
            stop(proc)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def create_database(admin_dsn: str, name: str) -> str:
    """Create database ``name`` on the server of ``admin_dsn``; return its DSN."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_dsn.replace("dbname=postgres", f"dbname={name}")
