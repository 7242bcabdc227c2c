"""A segment store killed (SIGKILL, by pid) at any point of a write, delete or compaction
opens again holding every blob whose call returned, no half blob, and no shredded bytes.

The child process writes groups and prints each group's addresses once
``put_many_hashed`` has returned. To kill it at a chosen step, it replaces that step
with one that says ``stop`` and waits on its stdin; the test kills it on reading it.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

from carchain.storage.segment_files import get_segment_path
from carchain.storage.segments import SegmentBlobStore
from tests.storage.segment_helpers import make_blob, read_all_segments

_CHILD = textwrap.dedent(
    """
    import hashlib, sys
    from pathlib import Path
    from carchain.storage import segment_files, segments
    from tests.storage.segment_helpers import make_blob

    root, stop_at, groups = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])

    def stop(*args, **kwargs):
        print("stop", flush=True)
        sys.stdin.read()  # until killed

    def stop_after(original):
        def run(*args, **kwargs):
            original(*args, **kwargs)
            stop()
        return run

    store = segments.SegmentBlobStore(root, max_segment_size=40_000)
    if stop_at == "delete":  # the blob unindexed, its bytes not zeroed yet
        segments.zero_at = stop
        store.delete(hashlib.sha256(make_blob("0/0")).digest())
    if stop_at == "compact":  # the copies indexed, the old segment not removed yet
        store.remove_segment = stop
        store.compact(0.1)
    for g in range(groups):
        if stop_at == "write" and g == groups - 1:  # the last group written, not indexed
            segment_files.SegmentWriter.sync = stop_after(segment_files.SegmentWriter.sync)
        blobs = [make_blob(f"{g}/{i}") for i in range(10)]
        store.put_many_hashed([(hashlib.sha256(b).digest(), b) for b in blobs])
        print("ok", g, flush=True)
    print("stop", flush=True)
    sys.stdin.read()
    """
)


def run_until_killed(root: Path, stop_at: str, groups: int) -> list[int]:
    """Run the child until it says ``stop``, SIGKILL it by pid; return the acknowledged groups."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), stop_at, str(groups)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
    )
    assert child.stdout is not None
    acked = []
    try:
        for line in child.stdout:
            if line.startswith("ok "):
                acked.append(int(line.split()[1]))
            elif line.strip() == "stop":
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdin.close()  # type: ignore[union-attr]
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return acked


def group_blobs(g: int) -> list[bytes]:
    return [make_blob(f"{g}/{i}") for i in range(10)]


def assert_sound(store: SegmentBlobStore) -> None:
    """Every indexed blob reads back verified and every segment ends where its index says."""
    for digest in store.iter_digests():
        store.get(digest)
    for row in store.index.get_segments():
        assert get_segment_path(store.root, row.id).stat().st_size == row.size


def test_killed_mid_group_keeps_every_returned_group_and_no_half_blob(tmp_path: Path) -> None:
    acked = run_until_killed(tmp_path, "write", 12)
    assert acked == list(range(11))
    written = len(read_all_segments(tmp_path))
    assert written == 12 * 10 * 4800  # the last group's bytes reached the file
    store = SegmentBlobStore(tmp_path, max_segment_size=40_000)
    for g in acked:
        for blob in group_blobs(g):
            assert store.get(hashlib.sha256(blob).digest()) == blob
    assert not any(store.has(hashlib.sha256(b).digest()) for b in group_blobs(11))
    assert len(list(store.iter_digests())) == 110
    assert_sound(store)  # the unindexed tail is cut off
    assert len(read_all_segments(tmp_path)) == 110 * 4800
    store.put(b"after the crash")  # appends where the index ends
    assert_sound(store)


@pytest.mark.parametrize("groups", [3, 40])
def test_killed_while_running_keeps_every_returned_group(tmp_path: Path, groups: int) -> None:
    """Killed as soon as the first group returned: wherever the child was, it recovers."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path), "none", str(groups)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
    )
    assert child.stdout is not None
    first = child.stdout.readline()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdin.close()  # type: ignore[union-attr]
    acked = [0] + [int(line.split()[1]) for line in child.stdout if line.startswith("ok ")]
    child.stdout.close()
    assert first == "ok 0\n"
    store = SegmentBlobStore(tmp_path, max_segment_size=40_000)
    for g in acked:
        for blob in group_blobs(g):
            assert store.get(hashlib.sha256(blob).digest()) == blob
    assert_sound(store)


def test_killed_mid_delete_finishes_the_shredding_on_open(tmp_path: Path) -> None:
    assert run_until_killed(tmp_path, "write", 3) == [0, 1]
    victim = group_blobs(0)[0]
    assert run_until_killed(tmp_path, "delete", 0) == []
    assert victim in read_all_segments(tmp_path)  # killed before the zeroing
    store = SegmentBlobStore(tmp_path, max_segment_size=40_000)
    assert not store.has(hashlib.sha256(victim).digest())
    assert victim[:64] not in read_all_segments(tmp_path)
    assert store.index.get_shredding() == []
    for blob in group_blobs(0)[1:] + group_blobs(1):
        assert store.get(hashlib.sha256(blob).digest()) == blob


def test_killed_mid_compaction_keeps_every_blob_and_removes_the_old_segment(
    tmp_path: Path,
) -> None:
    store = SegmentBlobStore(tmp_path, max_segment_size=40_000)
    for g in range(4):
        store.put_many_hashed([(hashlib.sha256(b).digest(), b) for b in group_blobs(g)])
    for blob in group_blobs(0)[:5]:
        store.delete(hashlib.sha256(blob).digest())
    store.close()
    assert run_until_killed(tmp_path, "compact", 0) == []
    with closing(sqlite3.connect(tmp_path / "index.db")) as db:
        (retired,) = db.execute("SELECT id FROM segments WHERE retired = 1").fetchall()
    assert get_segment_path(tmp_path, retired[0]).exists()  # killed before the removal
    reopened = SegmentBlobStore(tmp_path, max_segment_size=40_000)
    assert not get_segment_path(tmp_path, retired[0]).exists()
    assert retired[0] not in {r.id for r in reopened.index.get_segments()}
    live = group_blobs(0)[5:] + [b for g in range(1, 4) for b in group_blobs(g)]
    for blob in live:
        assert reopened.get(hashlib.sha256(blob).digest()) == blob
    assert len(list(reopened.iter_digests())) == len(live)
    assert_sound(reopened)
