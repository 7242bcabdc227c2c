"""A gateway whose blobs live in an S3-compatible store (SeaweedFS on loopback): uploads,
anchors and reads go through the bucket, nothing of the blobs is on the local disk, a
failing store refuses an upload with a typed error and no trace, and ``gateway.json``
names only where the store is (never its credentials)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from carchain.data.batches import decode_submitted
from carchain.errors import GatewayConfigError, StorageUnavailable
from carchain.gateway.ingest import IngestLimits, Ingestor
from carchain.gateway.journal import Journal
from carchain.gateway.server import GatewayConfig, get_config_path, load_config, save_config
from carchain.storage.s3_blobs import S3BlobStore
from carchain.storage.s3_location import S3Location
from tests.conftest import seeded_key
from tests.dataplane import NOW_MS, FakeDirectory, IngestRig, World, make_records, open_world
from tests.objectstore import ObjectStore


@pytest.fixture(scope="module")
def s3_world(
    objectstore: ObjectStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[World, S3Location, Path]]:
    location = objectstore.make_location("gw-" + uuid.uuid4().hex[:8])
    tmp = tmp_path_factory.mktemp("s3-world")
    with open_world(tmp, s3=location) as world:
        yield world, location, tmp / "gateway"


@pytest.mark.objectstore
def test_uploads_anchors_and_reads_go_through_the_bucket(
    s3_world: tuple[World, S3Location, Path],
) -> None:
    world, location, data_dir = s3_world
    gw = world.gateway.gateway
    stores = (gw.blobs, gw.keys, gw.releases, gw.tombstones)
    assert all(isinstance(s, S3BlobStore) for s in stores)
    car = world.cars["saic:car-1"]
    rec = car.recorder(window_ms=60_000)
    uploads = []
    for t, r in make_records(60, int(time.time() * 1000) - 600_000, step_ms=3_000):
        uploads += rec.add_at(r, t)
    uploads += rec.flush()
    assert len(uploads) >= 3
    receipts = [world.gclient.submit(u.body) for u in uploads]
    world.wait_anchored()
    for upload, receipt in zip(uploads, receipts, strict=True):
        header_hash = bytes.fromhex(receipt["header_hash"])
        assert world.gclient.ciphertext(header_hash) == decode_submitted(upload.body).ciphertext
    listed = gw.blobs.client.list_objects_v2(Bucket=location.bucket, Prefix=location.prefix + "/")
    namespaces = {o["Key"].split("/")[-2] for o in listed["Contents"]}
    assert namespaces == {"blobs", "keys"}  # ciphertexts and manifests; category keys
    anchor = gw.journal.get_anchor_optional(1)
    assert anchor is not None and gw.blobs.has(anchor.body.manifest_hash)
    assert (data_dir / "journal.db").exists()  # the journal stays on the local disk
    assert not any((data_dir / ns).exists() for ns in ("blobs", "keys", "releases", "tombstones"))


def test_invalid_a_failing_store_refuses_the_upload_and_keeps_no_trace(
    failing_s3: str, env_credentials: None, tmp_path: Path
) -> None:
    location = S3Location(failing_s3, "carchain-test")
    blobs, keys = S3BlobStore(location, "blobs"), S3BlobStore(location, "keys")
    journal = Journal(tmp_path / "journal.db")
    directory = FakeDirectory()
    custodian = seeded_key("custodian/saic")
    ingestor = Ingestor("saic", custodian.public_key, blobs, keys, journal, directory,
                        IngestLimits(max_upload_bytes=64 * 1024, max_records=1000))  # fmt: skip
    rig = IngestRig(ingestor, blobs, keys, journal, directory, custodian)  # type: ignore[arg-type]
    upload = rig.car("saic:1").upload()
    with pytest.raises(StorageUnavailable) as caught:
        rig.process(upload.body, NOW_MS)
    assert caught.value.http_status == 503
    assert journal.count_batches()[0] == 0
    journal.close()


def _config(**s3: str) -> GatewayConfig:
    return GatewayConfig("saic", "k.json", "00" * 32, "http://127.0.0.1:1", **s3)  # type: ignore[arg-type]


def test_gateway_json_holds_where_the_store_is_and_no_credentials(tmp_path: Path) -> None:
    cfg = _config(s3_endpoint="https://s3.eu-central-1.amazonaws.com", s3_bucket="oem-blobs",
                  s3_prefix="gw1", s3_region="eu-central-1")  # fmt: skip
    save_config(tmp_path / "home", cfg)
    saved = json.loads(get_config_path(tmp_path / "home").read_text())
    assert {k for k in saved if k.startswith("s3_")} == {
        "s3_endpoint", "s3_bucket", "s3_prefix", "s3_region"
    }  # fmt: skip
    assert not any("secret" in k or "access" in k for k in saved)
    loaded = load_config(tmp_path / "home")
    assert loaded.get_s3_location() == S3Location(
        "https://s3.eu-central-1.amazonaws.com", "oem-blobs", "gw1", "eu-central-1"
    )
    assert _config().get_s3_location() is None  # the default: the filesystem store


@pytest.mark.parametrize(
    "s3",
    [
        {"s3_bucket": "oem-blobs"},  # a bucket without an endpoint
        {"s3_endpoint": "http://127.0.0.1:9000"},  # an endpoint without a bucket
        {"s3_endpoint": "http://AKIA:secret@127.0.0.1:9000", "s3_bucket": "oem-blobs"},
        {"s3_endpoint": "http://127.0.0.1:9000", "s3_bucket": "oem-blobs", "s3_prefix": "../x"},
    ],
)
def test_invalid_s3_settings_are_refused_on_save_and_on_load(
    tmp_path: Path, s3: dict[str, str]
) -> None:
    with pytest.raises(GatewayConfigError):
        save_config(tmp_path / "home", _config(**s3))
    assert not get_config_path(tmp_path / "home").exists()
    save_config(tmp_path / "home", _config())
    path = get_config_path(tmp_path / "home")
    path.write_text(json.dumps(json.loads(path.read_text()) | s3))  # edited by hand
    with pytest.raises(GatewayConfigError):
        load_config(tmp_path / "home")
