"""The file blob store's own layout (its contract with the other stores: test_blob_contract)."""

from __future__ import annotations

from pathlib import Path

from carchain.storage.blobstore import FileBlobStore


def test_sharded_layout_and_private_files(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    digest = store.put(b"x")
    path = store.get_path(digest)
    assert path == tmp_path / digest.hex()[:2] / digest.hex()
    assert path.stat().st_mode & 0o777 == 0o600


def test_interrupted_writes_leave_no_blob(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    (tmp_path / "tmp" / "deadbeef.123.tmp").write_bytes(b"half a blob")
    reopened = FileBlobStore(tmp_path)
    assert list(reopened.iter_digests()) == []
    assert list((tmp_path / "tmp").iterdir()) == []
    digest = store.put(b"y")
    store.delete(digest)
    assert not store.has(digest)


def test_opening_tightens_folders_of_an_older_store(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "s")
    digest = store.put(b"x")
    shard = store.get_path(digest).parent
    for folder in (tmp_path / "s", shard):
        folder.chmod(0o755)
    FileBlobStore(tmp_path / "s")
    assert (tmp_path / "s").stat().st_mode & 0o777 == 0o700
    assert shard.stat().st_mode & 0o777 == 0o700
