"""The segment blob store: blobs in a few append-only files, indexed in SQLite."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.errors import NotFound, StorageCorrupted
from carchain.storage.ports import BlobStore
from carchain.storage.segment_files import get_segment_path, list_segment_files
from carchain.storage.segments import SegmentBlobStore
from tests.storage.segment_helpers import count_files, make_blob, read_all_segments


def test_put_get_has_round_trip(tmp_path: Path) -> None:
    store: BlobStore = SegmentBlobStore(tmp_path)
    digest = store.put(b"ciphertext")
    assert digest == hashlib.sha256(b"ciphertext").digest()
    assert store.has(digest) and store.get(digest) == b"ciphertext"
    assert store.put(b"ciphertext") == digest  # idempotent: stored once
    assert list(store.iter_digests()) == [digest]
    assert read_all_segments(tmp_path) == b"ciphertext"


def test_a_group_is_stored_once_per_blob_and_survives_reopening(tmp_path: Path) -> None:
    store = SegmentBlobStore(tmp_path)
    blobs = [make_blob(str(i), 100) for i in range(50)]
    group = [(hashlib.sha256(b).digest(), b) for b in blobs]
    store.put_many_hashed(group + group[:5])  # duplicates inside the group
    store.put_many_hashed(group[10:20])  # already stored
    assert len(read_all_segments(tmp_path)) == 50 * 100
    store.close()
    reopened = SegmentBlobStore(tmp_path)
    assert [reopened.get(d) for d, _ in group] == blobs
    assert set(reopened.iter_digests()) == {d for d, _ in group}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.binary(max_size=700), max_size=6), max_size=8))
def test_every_group_reads_back(
    tmp_path_factory: pytest.TempPathFactory, groups: list[list[bytes]]
) -> None:
    store = SegmentBlobStore(tmp_path_factory.mktemp("seg"), fsync=False, max_segment_size=1000)
    for group in groups:
        store.put_many_hashed([(hashlib.sha256(b).digest(), b) for b in group])
    for blob in (b for group in groups for b in group):
        assert store.get(hashlib.sha256(blob).digest()) == blob
    assert len(list(store.iter_digests())) == len({b for group in groups for b in group})
    for row in store.index.get_segments():  # only a lone blob overfills a segment
        assert row.size <= 1000 or len(store.index.get_live(row.id)) == 1


def test_ten_thousand_blobs_make_a_handful_of_files(tmp_path: Path) -> None:
    store = SegmentBlobStore(tmp_path, fsync=False)
    for g in range(100):
        blobs = [make_blob(f"{g}/{i}") for i in range(100)]
        store.put_many_hashed([(hashlib.sha256(b).digest(), b) for b in blobs])
    assert len(list(store.iter_digests())) == 10_000
    # One segment (48 MB), the index with its WAL and shared memory, the lock.
    assert count_files(tmp_path) <= 5
    assert len(list_segment_files(tmp_path)) == 1


def test_segments_roll_over_at_the_size_limit(tmp_path: Path) -> None:
    store = SegmentBlobStore(tmp_path, max_segment_size=1000)
    small = [store.put(make_blob(f"s{i}", 300)) for i in range(7)]  # 3 fit in a segment
    big = store.put(make_blob("big", 2500))  # larger than a segment: one of its own
    after = store.put(make_blob("after", 300))
    sizes = {i: p.stat().st_size for i, p in list_segment_files(tmp_path).items()}
    assert sizes == {1: 900, 2: 900, 3: 300, 4: 2500, 5: 300}
    segments = [store.index.find(d) for d in (*small, big, after)]
    assert [loc.segment for loc in segments if loc] == [1, 1, 1, 2, 2, 2, 3, 4, 5]
    assert all(store.get(d) for d in (*small, big, after))


def test_files_are_private(tmp_path: Path) -> None:
    store = SegmentBlobStore(tmp_path / "s")
    store.put(b"x")
    assert stat.S_IMODE((tmp_path / "s").stat().st_mode) == 0o700
    for path in (tmp_path / "s").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_invalid_flipped_byte_on_disk_is_detected_on_read(tmp_path: Path) -> None:
    store = SegmentBlobStore(tmp_path)
    keep, digest = store.put(b"neighbour"), store.put(b"original ciphertext")
    location = store.index.find(digest)
    assert location is not None
    path = get_segment_path(tmp_path, location.segment)
    raw = bytearray(path.read_bytes())
    raw[location.offset + 3] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(StorageCorrupted) as exc:
        store.get(digest)
    assert exc.value.digest == digest
    assert store.get(keep) == b"neighbour"


def test_invalid_missing_blob_and_bad_addresses(tmp_path: Path) -> None:
    store = SegmentBlobStore(tmp_path)
    with pytest.raises(NotFound):
        store.get(b"\x00" * 32)
    for bad in (b"short", b"\x00" * 33, b""):
        for call in (store.get, store.has, store.delete, lambda d: store.put_hashed(d, b"x")):
            with pytest.raises(ValueError):
                call(bad)
        with pytest.raises(ValueError):
            store.put_many_hashed([(hashlib.sha256(b"x").digest(), b"x"), (bad, b"y")])
    assert list(store.iter_digests()) == []  # a bad group stores nothing
    with pytest.raises(ValueError):
        SegmentBlobStore(tmp_path / "other", max_segment_size=0)


def test_delete_zeroes_the_bytes_on_disk(tmp_path: Path) -> None:
    store = SegmentBlobStore(tmp_path)
    secret = b"SEALED-CATEGORY-KEY-ENVELOPE:" + make_blob("envelope", 200)
    before, after = store.put(b"before" * 20), store.put(b"after" * 20)
    digest = store.put(secret)
    store.put(b"later" * 20)
    assert secret in read_all_segments(tmp_path)
    store.delete(digest)
    assert not store.has(digest) and digest not in set(store.iter_digests())
    raw = read_all_segments(tmp_path)
    assert secret[:29] not in raw and make_blob("envelope", 200)[:64] not in raw
    assert raw.count(b"\x00" * len(secret)) == 1
    with pytest.raises(NotFound):
        store.get(digest)
    assert store.get(before) == b"before" * 20 and store.get(after) == b"after" * 20
    store.delete(digest)  # deleting an absent blob is a no-op
    assert store.put(secret) == digest and store.get(digest) == secret  # stored anew


def test_two_stores_on_one_root_share_it(tmp_path: Path) -> None:
    one, two = SegmentBlobStore(tmp_path), SegmentBlobStore(tmp_path)
    a = one.put(b"from one")
    b = two.put(b"from two")  # appended after one's blob, not over it
    assert one.get(b) == b"from two" and two.get(a) == b"from one"
    assert read_all_segments(tmp_path) == b"from onefrom two"


def test_threads_write_read_delete_and_compact_together(tmp_path: Path) -> None:
    store = SegmentBlobStore(tmp_path, fsync=False, max_segment_size=20_000)
    errors: list[BaseException] = []
    kept: dict[bytes, bytes] = {}
    lock = threading.Lock()

    def writer(n: int) -> None:
        try:
            for g in range(20):
                blobs = [make_blob(f"{n}/{g}/{i}", 500) for i in range(5)]
                group = [(hashlib.sha256(b).digest(), b) for b in blobs]
                store.put_many_hashed(group)
                store.delete(group[0][0])  # leaves dead bytes for compaction
                with lock:
                    kept.update(group[1:])
                for d, b in group[1:]:
                    assert store.get(d) == b
                store.compact(0.1)
        except BaseException as exc:  # reported to the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {d: store.get(d) for d in kept} == kept
    assert set(store.iter_digests()) == set(kept)


def test_a_crashed_rollover_file_is_removed_on_open(tmp_path: Path) -> None:
    store = SegmentBlobStore(tmp_path)
    digest = store.put(b"x")
    store.close()
    orphan = get_segment_path(tmp_path, 7)
    orphan.write_bytes(b"never indexed")
    os.chmod(orphan, 0o600)
    reopened = SegmentBlobStore(tmp_path)
    assert not orphan.exists() and reopened.get(digest) == b"x"
