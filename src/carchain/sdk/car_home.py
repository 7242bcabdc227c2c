"""A car home: what one vehicle keeps on disk between trips.

::

    <home>/car.json           vehicle id, gateway and node URLs, custodian key (no secret)
    <home>/vehicle-key.json   the vehicle signing key (sdk/keystore.py: scrypt + AES-256-GCM)
    <home>/state.bin          epoch keys, envelopes, batch counters, batches (sdk/car_state.py)
    <home>/batches/E-S.batch  each sealed batch (ciphertext and sealed keys only), written once

A batch file is written (exclusively: never replaced) before the state that
counts it, and opening a home recounts every batch file: a crash between the two
or a state restored from an older copy can never hand out a seq again, so a
restart the same day continues the counter and no segment key (derived from
vehicle, epoch and seq) encrypts twice.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec

from carchain.crypto.hashing import compute_sha256
from carchain.crypto.signing import SigningKey
from carchain.data.batches import compute_header_hash, decode_signed_header, decode_submitted
from carchain.data.minimisation import FLEET_TELEMATICS_POLICY, MinimisationPolicy
from carchain.errors import (
    CarchainError,
    CarHomeBusy,
    CarHomeExists,
    CarHomeNotFound,
    CarLocked,
    CarStateCorrupted,
    DecryptionFailed,
    InvalidCarConfig,
)
from carchain.sdk.car_state import (
    STATE_VERSION,
    BatchEntry,
    CarState,
    EpochKeys,
    StateCipher,
    write_atomic,
)
from carchain.sdk.escrow_seats import EscrowSource
from carchain.sdk.keystore import SCRYPT_N, load_key, save_key, validate_new_passphrase
from carchain.sdk.vehicle import Upload, VehicleRecorder

CONFIG_FORMAT = "carchain-car-home/v1"
CONFIG_FILE, KEY_FILE, STATE_FILE, BATCH_DIR = (
    "car.json",
    "vehicle-key.json",
    "state.bin",
    "batches",
)
LOCK_FILE = "lock"
# Whole-string checks only (``fullmatch``: a ``$`` would let a trailing newline through).
_VEHICLE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}:[A-Za-z0-9._-]{1,64}", re.ASCII)
_BATCH_NAME = re.compile(r"([0-9]+)-([0-9]+)\.batch", re.ASCII)
_URL_SCHEMES = frozenset({"http", "https"})


class CarConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The public part of a car home (``car.json``)."""

    format: str
    vehicle_id: str
    gateway: str
    node: str
    custodian: str  # the OEM custodian's public key, hex


def validate_car_config(config: CarConfig) -> None:
    """Raise ``InvalidCarConfig`` unless the vehicle id, URLs and custodian key are sound."""
    if not _VEHICLE_ID.fullmatch(config.vehicle_id):
        raise InvalidCarConfig(
            f"vehicle id {config.vehicle_id!r} is not '<oem member id>:<local id>'",
            option="vehicle",
        )
    for option, url in (("gateway", config.gateway), ("node", config.node)):
        validate_service_url(url, option)
    try:
        ok = len(bytes.fromhex(config.custodian)) == 32
    except ValueError:
        ok = False
    if not ok:
        raise InvalidCarConfig(
            "--custodian must be a 32-byte public key in hex", option="custodian"
        )


def validate_service_url(url: str, option: str) -> None:
    """Raise ``InvalidCarConfig`` unless ``url`` is a whole, usable http(s) URL: it parses
    (``httpx.URL``), has a host and a port in 1..65535 if any, and no whitespace, user
    info, query or fragment."""
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, TypeError, ValueError):
        parsed, port = None, None
    ok = (
        parsed is not None
        and not any(c.isspace() for c in url)
        and parsed.scheme in _URL_SCHEMES
        and bool(parsed.host)
        and (port is None or 0 < port < 65536)
        and not (parsed.userinfo or parsed.query or parsed.fragment)
    )
    if not ok:
        raise InvalidCarConfig(f"--{option} {url!r} is not an http(s) URL", option=option)


def validate_home_folder(root: Path) -> None:
    """Raise ``InvalidCarConfig`` if the home is not a folder or is writable by group or
    others (anyone who can write it can swap its files)."""
    try:
        st = os.stat(root)
    except OSError:
        return  # not there: read_car_config says "not found"
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidCarConfig(f"the car home {root} is not a folder", option="home")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise InvalidCarConfig(
            f"the car home {root} is writable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):o}); `chmod 700` it",
            option="home",
        )


@dataclass
class CarHome:
    """An opened car home: config, unlocked vehicle key and state."""

    root: Path
    config: CarConfig
    key: SigningKey
    state: CarState
    cipher: StateCipher
    lock_fd: int = -1

    @property
    def batch_dir(self) -> Path:
        """Return the folder of the sealed batch files."""
        return self.root / BATCH_DIR

    def save(self) -> None:
        """Write the state durably (atomic replace)."""
        write_atomic(self.root / STATE_FILE, self.cipher.seal(self.state))

    def store_batch(self, upload: Upload) -> BatchEntry:
        """Write a sealed batch once, count it and save the state; return its entry."""
        path = self.batch_dir / f"{upload.epoch}-{upload.seq}.batch"
        try:
            write_atomic(path, upload.body, exclusive=True)
        except FileExistsError:
            raise CarStateCorrupted(
                f"batch {upload.epoch}-{upload.seq} exists already: the state lost its counter",
                path=str(path),
            ) from None
        entry = _make_entry(upload.body, upload.header_hash)
        self.state.batches.append(entry)
        _bump(self.state, entry)
        self.save()
        return entry

    def read_batch(self, entry: BatchEntry) -> bytes:
        """Return a stored batch; ``CarStateCorrupted`` if the file is gone or changed."""
        path = self.batch_dir / f"{entry.epoch}-{entry.seq}.batch"
        try:
            body = path.read_bytes()
        except OSError:
            raise CarStateCorrupted(f"batch file {path} is missing", path=str(path)) from None
        if compute_sha256(body) != entry.body_hash:
            raise CarStateCorrupted(f"batch file {path} was changed", path=str(path))
        return body

    def make_recorder(
        self,
        owner: bytes,
        owner_since_ms: int,
        escrow: EscrowSource | None,
        policy: MinimisationPolicy = FLEET_TELEMATICS_POLICY,
    ) -> VehicleRecorder:
        """Return the car's recorder with its counters and, for the same owner, its
        epoch keys and envelopes restored; a new owner (a transfer) gets fresh keys."""
        rec = VehicleRecorder(
            self.config.vehicle_id,
            self.key,
            owner,
            bytes.fromhex(self.config.custodian),
            policy,
            owner_since_ms=owner_since_ms,
            escrow=escrow,
        )
        if owner != self.state.owner or owner_since_ms != self.state.owner_since_ms:
            self.state.epochs = {}  # a transfer: the old keys must never seal for the new owner
            self.state.owner, self.state.owner_since_ms = owner, owner_since_ms
        for epoch, keys in self.state.epochs.items():
            rec.restore_epoch(epoch, keys.key, 0, keys.envelopes)
        for epoch, seq in self.state.next_seqs.items():
            rec.restore_next_seq(epoch, seq)
        return rec

    def keep_recorder(self, rec: VehicleRecorder) -> None:
        """Copy the recorder's epoch keys, envelopes and counters into the state, and save."""
        for epoch, (key, envelopes) in rec.get_epoch_state().items():
            self.state.epochs[epoch] = EpochKeys(key, envelopes)
            seq = rec.get_next_seq(epoch)
            self.state.next_seqs[epoch] = max(seq, self.state.next_seqs.get(epoch, 0))
        self.save()


def init_car_home(
    root: Path, config: CarConfig, passphrase: str, *, scrypt_n: int = SCRYPT_N
) -> tuple[CarHome, SigningKey]:
    """Create a car home with a fresh vehicle key; ``CarHomeExists`` if one is there."""
    validate_car_config(config)
    if (root / CONFIG_FILE).exists() or (root / KEY_FILE).exists():
        raise CarHomeExists(f"a car home exists at {root}; it is never overwritten", home=str(root))
    validate_new_passphrase(passphrase)
    if not root.exists():
        root.mkdir(mode=0o700, parents=True)
        os.chmod(root, 0o700)  # whatever the umask
    validate_home_folder(root)
    (root / BATCH_DIR).mkdir(mode=0o700, exist_ok=True)
    key = SigningKey.generate()
    save_key(root / KEY_FILE, key, passphrase, n=scrypt_n)
    home = CarHome(
        root,
        config,
        key,
        CarState(STATE_VERSION, config.vehicle_id),
        StateCipher.for_vehicle(config.vehicle_id, key),
    )
    home.save()
    # car.json last: a home without it was never finished and opens as "not found".
    write_atomic(root / CONFIG_FILE, msgspec.json.format(msgspec.json.encode(config)) + b"\n")
    return home, key


def read_car_config(root: Path) -> CarConfig:
    """Return the home's ``car.json``; ``CarHomeNotFound`` without one."""
    path = root / CONFIG_FILE
    validate_home_folder(root)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CarHomeNotFound(
            f"no car home at {root} (create one with `carchain car init`)", home=str(root)
        ) from None
    except OSError as exc:
        raise CarHomeNotFound(f"cannot read {path}: {exc.strerror}", home=str(root)) from None
    try:
        config = msgspec.json.decode(raw, type=CarConfig)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise CarStateCorrupted(f"{path} is not a car config", path=str(path)) from None
    if config.format != CONFIG_FORMAT:
        raise CarStateCorrupted(f"{path} has format {config.format!r}", path=str(path))
    validate_car_config(config)
    return config


def open_car_home(root: Path, passphrase: str) -> CarHome:
    """Open a car home: unlock the key, open the state and recount its batch files."""
    config = read_car_config(root)
    lock_home(root)  # refuse early, before the passphrase's scrypt
    try:
        key = load_key(root / KEY_FILE, passphrase)
    except DecryptionFailed:
        raise CarLocked(
            f"cannot unlock the vehicle key of {root} (wrong passphrase?)", home=str(root)
        ) from None
    cipher = StateCipher.for_vehicle(config.vehicle_id, key)
    path = root / STATE_FILE
    try:
        raw = path.read_bytes()
    except OSError:
        raise CarStateCorrupted(f"the car state {path} is missing", path=str(path)) from None
    state = cipher.open(raw, path)
    if state.vehicle_id != config.vehicle_id:
        raise CarStateCorrupted(f"{path} is another vehicle's state", path=str(path))
    home = CarHome(root, config, key, state, cipher, lock_home(root))
    remove_stale_temp_files(root)
    if _recount_batches(home):
        home.save()
    return home


def _recount_batches(home: CarHome) -> bool:
    """Add batch files the state does not count (a crash between file and state, or an
    older state restored) and raise each epoch's counter past them; return if it did."""
    known = {(b.epoch, b.seq) for b in home.state.batches}
    changed = False
    for path in sorted(home.batch_dir.iterdir()) if home.batch_dir.is_dir() else []:
        m = _BATCH_NAME.fullmatch(path.name)
        if m is None or (int(m[1]), int(m[2])) in known:
            continue
        body = path.read_bytes()
        entry = _make_entry(body, None, path)
        if (entry.epoch, entry.seq) != (int(m[1]), int(m[2])):
            raise CarStateCorrupted(f"batch file {path} holds another batch", path=str(path))
        home.state.batches.append(entry)
        changed = True
    for entry in home.state.batches:
        changed |= _bump(home.state, entry)
    home.state.batches.sort(key=lambda b: (b.epoch, b.seq))
    return changed


def _make_entry(body: bytes, header_hash: bytes | None, path: Path | None = None) -> BatchEntry:
    try:
        raw_header = decode_submitted(body).header
        h = decode_signed_header(raw_header).header
    except CarchainError:
        raise CarStateCorrupted(f"batch file {path} is damaged", path=str(path)) from None
    return BatchEntry(
        header_hash=header_hash or compute_header_hash(raw_header),
        epoch=h.epoch,
        seq=h.seq,
        start_ms=h.start_ms,
        end_ms=h.end_ms,
        record_count=h.record_count,
        size=len(body),
        body_hash=compute_sha256(body),
    )


def _bump(state: CarState, entry: BatchEntry) -> bool:
    if state.next_seqs.get(entry.epoch, 0) > entry.seq:
        return False
    state.next_seqs[entry.epoch] = entry.seq + 1
    return True


def remove_stale_temp_files(root: Path) -> None:
    """Remove leftovers of interrupted atomic writes (never a finished file; a symlink
    is removed, not followed); ``CarStateCorrupted`` for one that cannot be (a folder)."""
    for folder in (root, root / BATCH_DIR):
        for path in folder.glob(".*.tmp") if folder.is_dir() else []:
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise CarStateCorrupted(
                    f"{path} is in the way of the car's writes ({exc.strerror}); remove it",
                    path=str(path),
                ) from None


_LOCKS: dict[Path, int] = {}


def lock_home(root: Path) -> int:
    """Hold the home's lock for this process (a POSIX record lock, released when the
    process ends); ``CarHomeBusy`` while another process holds it."""
    path = (root / LOCK_FILE).resolve()
    fd = _LOCKS.get(path)
    if fd is not None:
        return fd
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise CarHomeBusy(
            f"another carchain car process is using {root}; wait for it to finish",
            home=str(root),
        ) from None
    _LOCKS[path] = fd
    return fd
