"""The gateway's blob stores: segment stores in a new data dir, the file layout kept in an
existing one (no migration), and every store closed with the gateway."""

from __future__ import annotations

from pathlib import Path

import pytest

from carchain.gateway.service import Gateway
from carchain.storage.blobstore import FileBlobStore
from carchain.storage.segments import SegmentBlobStore
from tests.conftest import seeded_key
from tests.dataplane import World


def open_gateway(data_dir: Path, world: World) -> Gateway:
    custodian = seeded_key("custodian/saic").public_key
    return Gateway(data_dir, "saic", seeded_key("saic"), custodian, world.node.url)


def test_a_new_data_dir_stores_blobs_in_segments(tmp_path: Path, world: World) -> None:
    gw = open_gateway(tmp_path / "gw", world)
    try:
        stores = (gw.blobs, gw.keys, gw.releases, gw.tombstones)
        assert all(isinstance(s, SegmentBlobStore) for s in stores)
        digest = gw.blobs.put(b"sealed batch")
        assert not any(p.is_dir() for p in (tmp_path / "gw" / "blobs").iterdir())
    finally:
        gw.close()
    reopened = open_gateway(tmp_path / "gw", world)
    try:
        assert reopened.blobs.get(digest) == b"sealed batch"
    finally:
        reopened.close()


def test_an_existing_file_layout_data_dir_keeps_working(tmp_path: Path, world: World) -> None:
    data = tmp_path / "gw"
    old_blob = FileBlobStore(data / "blobs").put(b"batch of the old version")
    old_key = FileBlobStore(data / "keys").put(b"envelope of the old version")
    gw = open_gateway(data, world)
    try:
        assert isinstance(gw.blobs, FileBlobStore) and isinstance(gw.keys, FileBlobStore)
        assert isinstance(gw.releases, SegmentBlobStore)  # never used before: new layout
        assert gw.blobs.get(old_blob) == b"batch of the old version"
        assert gw.keys.get(old_key) == b"envelope of the old version"
        new = gw.blobs.put(b"batch of this version")
        assert gw.blobs.get_path(new).exists()
        gw.keys.delete(old_key)
        assert not gw.keys.has(old_key)
    finally:
        gw.close()


def test_closing_the_gateway_closes_its_stores(tmp_path: Path, world: World) -> None:
    gw = open_gateway(tmp_path / "gw", world)
    gw.close()
    assert isinstance(gw.blobs, SegmentBlobStore)
    with pytest.raises(Exception, match="closed"):
        gw.blobs.has(b"\x00" * 32)
