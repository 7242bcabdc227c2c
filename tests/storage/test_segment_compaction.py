"""Compaction of the segment store: live blobs stay readable, the bytes on disk shrink."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.storage.segment_files import list_segment_files
from carchain.storage.segments import SegmentBlobStore
from tests.storage.segment_helpers import make_blob, read_all_segments


def fill(store: SegmentBlobStore, n: int, size: int = 1000) -> list[bytes]:
    blobs = [make_blob(f"b{i}", size) for i in range(n)]
    store.put_many_hashed([(hashlib.sha256(b).digest(), b) for b in blobs])
    return blobs


def test_compaction_keeps_live_blobs_and_shrinks_the_disk(tmp_path: Path) -> None:
    store = SegmentBlobStore(tmp_path, max_segment_size=10_000)
    blobs = fill(store, 40)  # four full segments
    dead = [b for i, b in enumerate(blobs) if i % 10 < 7]  # 70 % of each segment
    for blob in dead:
        store.delete(hashlib.sha256(blob).digest())
    before = len(read_all_segments(tmp_path))
    assert store.compact(0.5) == 4
    after = len(read_all_segments(tmp_path))
    assert (before, after) == (40_000, 12_000)
    assert set(list_segment_files(tmp_path)) == {5, 6}  # the copies, 10 then 2 blobs
    live = [b for b in blobs if b not in dead]
    for blob in live:
        assert store.get(hashlib.sha256(blob).digest()) == blob
    assert set(store.iter_digests()) == {hashlib.sha256(b).digest() for b in live}
    assert store.compact(0.5) == 0  # nothing left to reclaim


def test_segments_below_the_threshold_are_left_alone(tmp_path: Path) -> None:
    store = SegmentBlobStore(tmp_path, max_segment_size=10_000)
    blobs = fill(store, 20)
    store.delete(hashlib.sha256(blobs[0]).digest())  # 10 % dead
    assert store.compact(0.5) == 0
    assert set(list_segment_files(tmp_path)) == {1, 2}
    assert store.compact(0.05) == 1
    assert set(list_segment_files(tmp_path)) == {2, 3}


def test_invalid_threshold(tmp_path: Path) -> None:
    store = SegmentBlobStore(tmp_path)
    for bad in (-0.1, 1.0, 2.0):
        with pytest.raises(ValueError):
            store.compact(bad)


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("put"), st.lists(st.binary(min_size=1, max_size=400), max_size=5)),
            st.tuples(st.just("delete"), st.integers(0, 30)),
            st.tuples(st.just("compact"), st.floats(0, 0.9)),
        ),
        max_size=25,
    )
)
def test_any_sequence_matches_a_dictionary(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, object]]
) -> None:
    root = tmp_path_factory.mktemp("seg")
    store = SegmentBlobStore(root, fsync=False, max_segment_size=800)
    model: dict[bytes, bytes] = {}
    seen: list[bytes] = []
    for op, arg in ops:
        if op == "put":
            group = [(hashlib.sha256(b).digest(), b) for b in arg]  # type: ignore[attr-defined]
            store.put_many_hashed(group)
            model.update(group)
            seen += [d for d, _ in group]
        elif op == "delete" and seen:
            digest = seen[int(arg) % len(seen)]  # type: ignore[call-overload]
            store.delete(digest)
            model.pop(digest, None)
        elif op == "compact":
            store.compact(float(arg))  # type: ignore[arg-type]
    assert {d: store.get(d) for d in store.iter_digests()} == model
    store.close()
    reopened = SegmentBlobStore(root, fsync=False, max_segment_size=800)
    assert {d: reopened.get(d) for d in reopened.iter_digests()} == model
    assert len(read_all_segments(root)) == sum(r.size for r in reopened.index.get_segments())


def test_a_compacted_segment_is_zeroed_before_its_file_is_removed(tmp_path: Path) -> None:
    """A blob compaction moved leaves no copy in the old file's freed blocks: a hard link
    to the old segment (its inode outlives the unlink) reads back as zeros only."""
    store = SegmentBlobStore(tmp_path / "store", max_segment_size=10_000)
    blobs = fill(store, 10)
    for blob in blobs[:7]:
        store.delete(hashlib.sha256(blob).digest())
    (first,) = list_segment_files(tmp_path / "store").values()
    keep = tmp_path / "kept-inode"
    keep.hardlink_to(first)
    assert blobs[9] in keep.read_bytes()
    assert store.compact(0.5) == 1
    assert not first.exists()
    old = keep.read_bytes()
    assert old and old == b"\0" * len(old)  # the moved live blobs too
    assert store.get(hashlib.sha256(blobs[9]).digest()) == blobs[9]


def test_a_crashed_tail_is_zeroed_before_it_is_cut(tmp_path: Path) -> None:
    from carchain.storage.segment_files import truncate_to, zero_from

    path = tmp_path / "1.seg"
    path.write_bytes(b"live" + b"secret-key-bytes")
    assert zero_from(path, 4, fsync=True) == 20
    assert path.read_bytes() == b"live" + b"\0" * 16  # what truncate_to does before it cuts
    path.write_bytes(b"live" + b"secret-key-bytes")
    truncate_to(path, 4, fsync=True)
    assert path.read_bytes() == b"live"
    assert zero_from(tmp_path / "absent.seg", 0, fsync=True) == 0
