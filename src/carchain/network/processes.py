"""Starting and stopping localnet processes by pid, each in its own process group.

Every process is started in a new session, so its pid is its process group id
and stopping it reaches anything it spawned. A pid file is trusted only if the
process behind it still runs the command line we recorded, so a recycled pid
never gets a signal meant for a node.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

# Children started by this process, reaped when they stop (no zombies in tests).
_children: dict[int, subprocess.Popen[bytes]] = {}


def spawn(
    argv: list[str], log_path: Path, pid_path: Path, env: dict[str, str] | None = None
) -> int:
    """Start ``argv`` in a new session with output appended to ``log_path``; return its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    _children[proc.pid] = proc
    pid_path.write_text(f"{proc.pid}\n{argv[-1]}\n")
    return proc.pid


def read_pid(pid_path: Path) -> int | None:
    """Return the pid recorded in ``pid_path`` if that process is still the one we started."""
    try:
        pid_s, marker = pid_path.read_text().splitlines()[:2]
        pid = int(pid_s)
    except (OSError, ValueError):
        return None
    return pid if is_running(pid, marker) else None


def is_running(pid: int, marker: str = "") -> bool:
    """Return whether ``pid`` is alive (not a zombie) and its command line holds ``marker``."""
    proc = _children.get(pid)
    if proc is not None:  # our own child: ask it (its cmdline may predate exec)
        if proc.poll() is None:
            return True
        _children.pop(pid, None)
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return marker in cmdline


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group led by ``pid`` (ignore if it is gone)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def wait_exit(pid: int, timeout_s: float) -> bool:
    """Wait until ``pid`` has exited; return whether it did within ``timeout_s``."""
    proc = _children.get(pid)
    if proc is not None:
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return False
        _children.pop(pid, None)
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(pid):
            return True
        time.sleep(0.02)
    return not is_running(pid)


def stop(pid_path: Path, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 10.0) -> bool:
    """Stop the process of ``pid_path`` (``sig``, then SIGKILL after ``timeout_s``).

    Returns whether a process was running.
    """
    pid = read_pid(pid_path)
    if pid is None:
        with contextlib.suppress(FileNotFoundError):
            pid_path.unlink()
        return False
    signal_group(pid, sig)
    if not wait_exit(pid, timeout_s if sig != signal.SIGKILL else 5.0):
        signal_group(pid, signal.SIGKILL)
        wait_exit(pid, 5.0)
    with contextlib.suppress(FileNotFoundError):
        pid_path.unlink()
    return True
