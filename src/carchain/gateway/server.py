"""Serving a gateway: its home folder, the ``carchain gateway`` process, an embedded one."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import uvicorn

from carchain.crypto.signing import SigningKey
from carchain.errors import GatewayConfigError
from carchain.gateway.app import create_gateway_app
from carchain.gateway.lease import DEFAULT_LEASE_TTL_S
from carchain.gateway.service import Gateway
from carchain.netaddr import validate_loopback
from carchain.node.server import announce_when_started
from carchain.sdk.keystore import load_key
from carchain.storage.blobstore import FILE_MODE, make_private_dir
from carchain.storage.s3_location import S3Location

DEFAULT_GATEWAY_PORT = 8710


def find_free_port(host: str = "127.0.0.1") -> int:
    """Return a port that is free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


MIN_LEASE_TTL_MS = 1_000
MAX_LEASE_TTL_MS = 600_000


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """What a gateway home's ``gateway.json`` holds (no secrets: the key file is encrypted)."""

    oem: str
    key_file: str
    custodian_public_key: str
    node_url: str
    api_host: str = "127.0.0.1"
    api_port: int = DEFAULT_GATEWAY_PORT
    anchor_interval_ms: int = 200
    # The custodian's encrypted signing key file ("": the custody service is off).
    custodian_key_file: str = ""
    # An S3-compatible store for the blobs ("": the filesystem under the home's data/).
    # Only where: the credentials come from the AWS environment or credentials file.
    s3_endpoint: str = ""
    s3_bucket: str = ""
    s3_prefix: str = "carchain"
    s3_region: str = "us-east-1"

    def get_s3_location(self) -> S3Location | None:
        """Return the S3 location of the blobs, ``None`` for the filesystem store."""
        if not self.s3_endpoint:
            if self.s3_bucket:
                raise GatewayConfigError("an S3 bucket needs an S3 endpoint (s3_endpoint)")
            return None
        return S3Location(self.s3_endpoint, self.s3_bucket, self.s3_prefix, self.s3_region)

    # The data folder (blob stores, journal; "": ``<home>/data``). The instances of one
    # OEM that scale its ingest out point at the same one (``gateway.lease``).
    data_dir: str = ""
    # This instance's id in the anchoring lease ("": host, pid and a random tag).
    instance_id: str = ""
    # How long the anchoring lease lasts unrenewed: a killed leader's successor takes
    # over after at most this long.
    lease_ttl_ms: int = 5000


def get_config_path(home: Path) -> Path:
    """Return the config file of a gateway home."""
    return home / "gateway.json"


def save_config(home: Path, config: GatewayConfig) -> None:
    """Write a new gateway home; refuse to overwrite one."""
    validate_loopback(config.api_host)
    config.get_s3_location()
    path = get_config_path(home)
    if path.exists():
        raise GatewayConfigError("gateway home already initialised", path=str(home))
    make_private_dir(home)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(asdict(config), indent=2))


def get_data_dir(home: Path, config: GatewayConfig) -> Path:
    """Return the data folder of a gateway home (``data_dir``, or ``<home>/data``)."""
    return Path(config.data_dir) if config.data_dir else home / "data"


def load_config(home: Path) -> GatewayConfig:
    """Read a gateway home's config."""
    try:
        cfg = GatewayConfig(**json.loads(get_config_path(home).read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise GatewayConfigError(f"cannot read gateway config in {home}: {exc}") from exc
    validate_loopback(cfg.api_host)
    cfg.get_s3_location()

    if not MIN_LEASE_TTL_MS <= cfg.lease_ttl_ms <= MAX_LEASE_TTL_MS:
        raise GatewayConfigError(
            f"lease_ttl_ms is {MIN_LEASE_TTL_MS} to {MAX_LEASE_TTL_MS} (a shorter lease "
            "spins its keeper and lapses inside one commit wait)",
            path=str(home),
        )
    return cfg


def open_gateway(home: Path, passphrase: str) -> tuple[Gateway, GatewayConfig]:
    """Unlock the OEM key (and the custodian key, if configured: the same passphrase)
    and open the gateway of a home folder."""
    cfg = load_config(home)
    key = load_key(Path(cfg.key_file), passphrase)
    custodian_key = None
    if cfg.custodian_key_file:
        custodian_key = load_key(Path(cfg.custodian_key_file), passphrase)
    gw = Gateway(
        get_data_dir(home, cfg),
        cfg.oem,
        key,
        bytes.fromhex(cfg.custodian_public_key),
        cfg.node_url,
        anchor_interval_s=cfg.anchor_interval_ms / 1000,
        custodian_key=custodian_key,
        s3=cfg.get_s3_location(),
        instance_id=cfg.instance_id,
        lease_ttl_s=cfg.lease_ttl_ms / 1000,
    )
    return gw, cfg


def run_gateway(home: Path, passphrase: str, port: int | None = None) -> None:
    """Run the gateway API and anchoring loop until interrupted.

    Refuses to start (``GatewayKeyNotOem``) unless its key is the active OEM's member key.
    """
    gw, cfg = open_gateway(home, passphrase)
    try:
        gw.validate_key()
    except BaseException:
        gw.close()
        raise
    gw.start_anchoring()
    bound = port or cfg.api_port
    config = uvicorn.Config(
        create_gateway_app(gw), host=cfg.api_host, port=bound, log_level="warning",
        access_log=False,
    )  # fmt: skip
    server = uvicorn.Server(config)
    url = f"http://{cfg.api_host}:{bound}"
    try:
        asyncio.run(_serve(server, url, str(home.resolve())))
    finally:
        gw.close()


async def _serve(server: uvicorn.Server, url: str, home: str) -> None:
    """Serve until interrupted; print where the gateway listens once it does."""
    announce = asyncio.create_task(announce_when_started(server, url, home))
    try:
        await server.serve()
    finally:
        announce.cancel()


class EmbeddedGateway:
    """A gateway and its API in this process on a free loopback port; ``with`` runs it."""

    def __init__(
        self,
        data_dir: Path,
        oem: str,
        oem_key: SigningKey,
        custodian: bytes,
        node_url: str,
        anchor_interval_s: float = 0.1,
        custodian_key: SigningKey | None = None,
        s3: S3Location | None = None,
        *,
        instance_id: str = "",
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
    ) -> None:
        self.gateway = Gateway(
            data_dir,
            oem,
            oem_key,
            custodian,
            node_url,
            anchor_interval_s=anchor_interval_s,
            custodian_key=custodian_key,
            s3=s3,
            instance_id=instance_id,
            lease_ttl_s=lease_ttl_s,
        )
        self.port = find_free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve the API and start anchoring; return once the API accepts connections.

        Refuses (``GatewayKeyNotOem``) unless the key is the active OEM's member key.
        """
        self.gateway.validate_key()
        config = uvicorn.Config(
            create_gateway_app(self.gateway),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve()), name="carchain-gateway", daemon=True
        )
        self._thread.start()
        ready = threading.Event()
        for _ in range(3000):
            if server.started or not self._thread.is_alive():
                break
            ready.wait(0.01)
        if not server.started:
            raise TimeoutError("embedded gateway did not start")
        self.gateway.start_anchoring()

    def stop(self) -> None:
        """Stop the API and the anchoring loop."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)
        self.gateway.close()

    def __enter__(self) -> EmbeddedGateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
