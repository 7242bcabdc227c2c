"""A SeaweedFS S3 server on loopback: for the tests, the benchmarks and a one-machine try-out.

``weed server -s3`` runs SeaweedFS's master, volume server, filer and S3 gateway
in one process. Everything binds 127.0.0.1 on free ports (the unused Iceberg and
Lance endpoints are off; SeaweedFS also makes Unix sockets for its gRPC in /tmp,
removed on stop), the data lives in one folder, and the S3 gateway
accepts one access key, written to a 0600 identity file there. ``LocalS3`` starts
it in its own process group, waits (polling, with a deadline) until an object can
be written, and stops it by its pid: SIGTERM, then SIGKILL.

The binary is ``$CARCHAIN_WEED`` or ``.tools/bin/weed`` (``make setup-objectstore``
builds the pinned version). A real deployment points the gateway at its own
object store instead (docs/deployment.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from carchain.errors import StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

WEED_ENV = "CARCHAIN_WEED"
MAX_VOLUMES = 300  # sparse files, not preallocated: 64 MiB at most each
HOST = "127.0.0.1"
PROBE_BUCKET = "carchain-probe"
# The ports ``weed server`` opens with -s3: each service's HTTP port and its gRPC port.
_PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc",
)  # fmt: skip


def find_weed() -> Path | None:
    """Return the SeaweedFS binary: ``$CARCHAIN_WEED``, ``.tools/bin/weed``, or ``None``."""
    env = os.environ.get(WEED_ENV)
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / ".tools" / "bin" / "weed")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    return None


def find_free_ports(count: int) -> list[int]:
    """Return ``count`` distinct ports free on loopback right now."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


class LocalS3:
    """One ``weed server -s3`` on loopback with a data folder and one access key."""

    def __init__(self, binary: Path, data_dir: Path) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.access_key = "carchain" + secrets.token_hex(6)
        self.secret_key = secrets.token_hex(20)
        self.ports = dict(zip(_PORT_FLAGS, find_free_ports(len(_PORT_FLAGS)), strict=True))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """Return the S3 endpoint."""
        return f"http://{HOST}:{self.ports['s3.port']}"

    @property
    def log_path(self) -> Path:
        """Return the server's log file."""
        return self.data_dir / "weed.log"

    def write_identity(self) -> Path:
        """Write the S3 identity file (the one access key, all actions) as 0600."""
        path = self.data_dir / "s3.json"
        identity = {
            "identities": [{
                "name": "carchain",
                "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }]
        }  # fmt: skip
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(identity, f)
        return path

    def get_command(self, identity: Path) -> list[str]:
        """Return the ``weed server`` command line."""
        store = self.data_dir / "store"
        store.mkdir(mode=0o700, parents=True, exist_ok=True)
        ports = [f"-{flag}={port}" for flag, port in self.ports.items()]
        return [
            str(self.binary), "server", "-s3", f"-ip={HOST}", f"-ip.bind={HOST}",
            # Each bucket is a collection that grows 7 volumes at its first write: room
            # for about 40 buckets (16 gave two, then InternalError on every put).
            f"-dir={store}", "-master.volumeSizeLimitMB=64", f"-volume.max={MAX_VOLUMES}",
            "-volume.preStopSeconds=0",
            *ports, "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={identity}",
            f"-filer.localSocket={self.data_dir / 'filer.sock'}",
            f"-s3.localSocket={self.data_dir / 's3.sock'}",
        ]  # fmt: skip

    def start(self, timeout_s: float = 90.0) -> None:
        """Start the server; return once an object can be written (or raise, stopped)."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        command = self.get_command(self.write_identity())
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.data_dir,
            )  # fmt: skip
        try:
            self.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise

    def make_client(self) -> S3Client:
        """Return a boto3 S3 client with this server's key (for the readiness probe)."""
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, connect_timeout=2, read_timeout=10,
                          retries={"max_attempts": 1}),
        )  # fmt: skip

    def wait_ready(self, timeout_s: float) -> None:
        """Poll until a probe object is written and read back; raise after ``timeout_s``."""
        client = self.make_client()
        deadline = time.monotonic() + timeout_s
        last = ""
        try:
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise StorageUnavailable(
                        f"SeaweedFS exited (code {self.proc.returncode}); see {self.log_path}",
                        endpoint=self.endpoint_url,
                    )
                try:
                    self._probe(client)
                    return
                except (BotoCoreError, ClientError) as exc:
                    last = type(exc).__name__
                if time.monotonic() >= deadline:
                    raise StorageUnavailable(
                        f"SeaweedFS did not accept writes within {timeout_s:.0f}s ({last}); "
                        f"see {self.log_path}", endpoint=self.endpoint_url,
                    )  # fmt: skip
                time.sleep(0.2)
        finally:
            client.close()

    @staticmethod
    def _probe(s3: S3Client) -> None:
        """Create the probe bucket if needed, write, read and delete one object."""
        try:
            s3.head_bucket(Bucket=PROBE_BUCKET)
        except ClientError:
            s3.create_bucket(Bucket=PROBE_BUCKET)
        s3.put_object(Bucket=PROBE_BUCKET, Key="probe", Body=b"ready")
        if s3.get_object(Bucket=PROBE_BUCKET, Key="probe")["Body"].read() != b"ready":
            raise ClientError({"Error": {"Code": "ProbeMismatch"}}, "GetObject")
        s3.delete_object(Bucket=PROBE_BUCKET, Key="probe")

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop the server by its pid (its process group): SIGTERM, wait ``grace_s``, then
        SIGKILL (its filer may spend 15 s flushing its own metadata log, which a test
        store does not need); remove the gRPC sockets it made in /tmp for our ports."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(20)
            except ProcessLookupError:
                proc.wait(20)
        for name in ("master", "volume", "filer", "s3"):
            sock = Path(f"/tmp/seaweedfs-{name}-grpc-{self.ports[name + '.port.grpc']}.sock")
            with contextlib.suppress(OSError):
                if sock.is_socket():
                    sock.unlink()

    def remove_data(self) -> None:
        """Delete the data folder (after ``stop``)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
