"""A car's state at rest: epoch keys, batch counters and its batches, sealed on disk.

The state is one MessagePack document encrypted with AES-256-GCM under a key
derived (HKDF-SHA256, info ``carchain/car-state/v1``) from the vehicle's signing
seed, which itself is stored encrypted by ``sdk/keystore.py`` (scrypt +
AES-256-GCM): one passphrase unlocks both, and the epoch keys are never on disk
in clear. The AAD binds the vehicle id and public key, so a state file copied
from another car, edited, truncated or re-encrypted under another key does not
open (``CarStateCorrupted``: nothing is overwritten). Writes are atomic: a temp
file, fsync, rename, fsync of the folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import msgspec

from carchain.crypto.aead import decrypt, encrypt, generate_nonce
from carchain.crypto.kdf import compute_hkdf
from carchain.crypto.signing import SigningKey
from carchain.errors import CarStateCorrupted, DecryptionFailed

STATE_LABEL = b"carchain/car-state/v1"
STATE_VERSION = 1

PENDING, SENT, ANCHORED = "pending", "sent", "anchored"


class EpochKeys(msgspec.Struct, forbid_unknown_fields=True):
    """One epoch's key (32 bytes) and its category key envelopes by category."""

    key: bytes
    envelopes: dict[str, bytes] = {}


class BatchEntry(msgspec.Struct, forbid_unknown_fields=True):
    """One sealed batch of the car and how far it got: pending, sent, anchored."""

    header_hash: bytes
    epoch: int
    seq: int
    start_ms: int
    end_ms: int
    record_count: int
    size: int
    body_hash: bytes
    status: str = PENDING
    attempts: int = 0
    sent_ms: int = 0
    anchor_seq: int = 0
    anchor_height: int = 0
    last_error: str = ""


class CarState(msgspec.Struct, forbid_unknown_fields=True):
    """Everything a car must remember across restarts (all of it secret or integrity
    critical: a lost counter would replay a batch seq)."""

    version: int
    vehicle_id: str
    owner: bytes = b""
    owner_since_ms: int = 0
    next_seqs: dict[int, int] = {}
    epochs: dict[int, EpochKeys] = {}
    batches: list[BatchEntry] = []
    trips: int = 0


@dataclass(frozen=True, slots=True)
class StateCipher:
    """Seals and opens one car's state file with a key derived from its signing key."""

    key: bytes
    aad: bytes

    @classmethod
    def for_vehicle(cls, vehicle_id: str, signing_key: SigningKey) -> StateCipher:
        """Return the cipher of ``vehicle_id``'s state under its signing key."""
        key = compute_hkdf(signing_key.seed(), STATE_LABEL)
        aad = msgspec.msgpack.encode([STATE_LABEL, vehicle_id, signing_key.public_key])
        return cls(key, aad)

    def seal(self, state: CarState) -> bytes:
        """Return the file bytes of ``state``: msgpack ``[label, nonce, ciphertext]``."""
        nonce = generate_nonce()
        ct = encrypt(self.key, nonce, msgspec.msgpack.encode(state), self.aad)
        return msgspec.msgpack.encode([STATE_LABEL, nonce, ct])

    def open(self, raw: bytes, path: Path) -> CarState:
        """Return the state in ``raw``; ``CarStateCorrupted`` for any damage or change."""
        try:
            label, nonce, ct = msgspec.msgpack.decode(raw, type=tuple[bytes, bytes, bytes])
            if label != STATE_LABEL:
                raise ValueError("not a car state file")
            state = msgspec.msgpack.decode(decrypt(self.key, nonce, ct, self.aad), type=CarState)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, DecryptionFailed):
            raise CarStateCorrupted(
                f"the car state {path} is damaged or was changed; it was left as it is "
                "(restore it from a backup; nothing was overwritten)",
                path=str(path),
            ) from None
        if state.version != STATE_VERSION:
            raise CarStateCorrupted(
                f"the car state {path} has version {state.version}", path=str(path)
            )
        return state


def write_atomic(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` durably (0600): temp file, fsync, rename, folder fsync.

    With ``exclusive`` an existing file is never replaced (``FileExistsError``). The
    temp file is created new (``O_EXCL | O_NOFOLLOW``): a file or symlink planted under
    its name is never written through (a leftover of a crashed write is removed first).
    """
    tmp = path.with_name(f".{path.name}.tmp")
    fd = _create_temp(tmp)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if exclusive:
        os.link(tmp, path)  # fails if path exists: a sealed batch is written once
        os.unlink(tmp)
    else:
        os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _create_temp(tmp: Path) -> int:
    """Return a new file at ``tmp`` (0600), opened for writing; ``CarStateCorrupted`` if
    one cannot be created even after removing what is in the way (unlink never follows)."""
    for _ in range(2):
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o600)
        except FileExistsError:
            try:
                os.unlink(tmp)
            except (IsADirectoryError, PermissionError):
                break
            except FileNotFoundError:
                continue
    raise CarStateCorrupted(f"cannot create the temp file {tmp}", path=str(tmp))
