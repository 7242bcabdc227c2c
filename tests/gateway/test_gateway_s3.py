"""A gateway whose blobs live in an S3-compatible store (SeaweedFS on loopback): uploads,
anchors and reads go through the bucket, nothing of the blobs is on the local disk, a
failing store refuses an upload with a typed error and no trace, and ``gateway.json``
names only where the store is (never its credentials)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from carchain.core.vehicles import RegisterVehicle
from carchain.data.batches import decode_submitted
from carchain.errors import CarchainError, GatewayConfigError, StorageUnavailable
from carchain.gateway.ingest import IngestLimits, Ingestor
from carchain.gateway.journal import Journal
from carchain.gateway.server import GatewayConfig, get_config_path, load_config, save_config
from carchain.sdk.account import Account
from carchain.sdk.client import Client
from carchain.sdk.gateway_client import GatewayClient
from carchain.sdk.keystore import save_key
from carchain.sdk.vin import compute_vin_commitment
from carchain.sim.embedded import EmbeddedNode, find_free_port
from carchain.storage.s3_blobs import S3BlobStore
from carchain.storage.s3_location import S3Location
from tests.conftest import VIN_SALT, Processes, make_genesis, make_vin, seeded_key
from tests.dataplane import (
    NOW_MS,
    FakeDirectory,
    IngestRig,
    World,
    make_car,
    make_records,
    open_world,
    wait_for,
)
from tests.gateway.test_gateway_cli import PASSPHRASE, carchain
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


@pytest.mark.objectstore
@pytest.mark.timeout(180)
def test_gateway_init_and_start_on_s3_from_the_command_line(
    objectstore: ObjectStore, tmp_path: Path, processes: Processes
) -> None:
    """An operator's path: ``gateway init --s3-*`` then ``gateway start``, the key in the
    0600 credentials file only; a batch lands in the bucket and is anchored."""
    genesis = make_genesis()
    keyring = tmp_path / "keys"
    custodian = seeded_key("custodian/saic")
    car = make_car("saic:s3-1", custodian)
    save_key(keyring / "saic.json", seeded_key("saic"), PASSPHRASE, n=2**10)
    save_key(keyring / "custodian.json", custodian, PASSPHRASE, n=2**10)
    env = dict(os.environ, CARCHAIN_PASSPHRASE=PASSPHRASE, CARCHAIN_KEYRING=str(keyring))
    location = objectstore.make_location("cli-" + uuid.uuid4().hex[:8])
    with EmbeddedNode(tmp_path / "node", genesis, block_interval_ms=50) as node:
        with Client(node.url) as client:
            Account(client, seeded_key("saic"), genesis.chain_id).send(
                RegisterVehicle(car.vehicle_id, compute_vin_commitment(make_vin("s3"), VIN_SALT),
                                car.key.public_key, "RX5", 2024, car.owner.public_key)
            )  # fmt: skip
        home, port = tmp_path / "gateway", find_free_port()
        base = ["gateway", "init", "--home", str(home), "--oem", "saic", "--key", "saic",
                "--custodian-key", "custodian", "--node", node.url,
                "--port", str(port)]  # fmt: skip
        refused = carchain(*base, "--s3-bucket", location.bucket, env=env)  # no endpoint
        assert refused.returncode == 1 and "S3 endpoint" in refused.stderr
        init = carchain(
            *base, "--s3-endpoint", location.endpoint_url, "--s3-bucket", location.bucket,
            "--s3-prefix", location.prefix, env=env,
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        saved = (home / "gateway.json").read_text()
        assert objectstore.server.secret_key not in saved
        assert objectstore.server.access_key not in saved
        log = tmp_path / "gateway.log"
        with log.open("wb") as sink:
            processes.start(
                [sys.executable, "-m", "carchain.cli.main", "gateway", "start", "--home",
                 str(home)], env=env, stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
        gc = GatewayClient(f"http://127.0.0.1:{port}")
        wait_for(lambda: _answers(gc), 60, "gateway")
        upload = car.upload(start_ms=int(time.time() * 1000) - 600_000)
        gc.submit(upload.body)
        wait_for(lambda: gc.status()["unanchored"] == 0, 60, "anchoring")
        gc.close()
    store = S3BlobStore(location, "blobs")
    ciphertext = decode_submitted(upload.body).ciphertext
    assert store.get(hashlib.sha256(ciphertext).digest()) == ciphertext
    store.close()
    assert not (home / "data" / "blobs").exists()
    assert objectstore.server.secret_key not in log.read_text()


def _answers(gc: GatewayClient) -> bool:
    try:
        gc.status()
        return True
    except CarchainError:
        return False
