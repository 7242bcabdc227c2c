"""Keys at rest: Ed25519 seeds encrypted with a passphrase (scrypt + AES-256-GCM)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from carchain.crypto.signing import SigningKey
from carchain.errors import DecryptionFailed, PassphraseTooShort

FORMAT = "carchain-key/v1"
# scrypt cost: 2**15 * 8 * 128 bytes = 32 MiB and ~0.1 s per unlock on this machine.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
# A new key's passphrase has at least this many characters (``validate_new_passphrase``).
MIN_PASSPHRASE_LENGTH = 12


def validate_new_passphrase(passphrase: str) -> None:
    """Refuse a passphrase for a new key shorter than ``MIN_PASSPHRASE_LENGTH`` characters."""
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise PassphraseTooShort(
            f"the passphrase has {len(passphrase)} characters; a new key needs at least "
            f"{MIN_PASSPHRASE_LENGTH}",
            minimum=MIN_PASSPHRASE_LENGTH,
        )


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def encrypt_key(key: SigningKey, passphrase: str, *, n: int = SCRYPT_N) -> dict[str, object]:
    """Return the JSON document that stores ``key`` encrypted under ``passphrase``."""
    if not passphrase:
        raise ValueError("a passphrase is required to store a key")
    salt = os.urandom(16)
    nonce = os.urandom(12)
    kek = _derive(passphrase, salt, n, SCRYPT_R, SCRYPT_P)
    aad = FORMAT.encode() + key.public_key
    ct = AESGCM(kek).encrypt(nonce, key.seed(), aad)
    return {
        "format": FORMAT,
        "public_key": key.public_key.hex(),
        "kdf": {"name": "scrypt", "n": n, "r": SCRYPT_R, "p": SCRYPT_P, "salt": salt.hex()},
        "cipher": {"name": "aes-256-gcm", "nonce": nonce.hex(), "ciphertext": ct.hex()},
    }


def decrypt_key(doc: dict[str, object], passphrase: str) -> SigningKey:
    """Return the key in ``doc``; raise ``DecryptionFailed`` for a wrong passphrase or damage."""
    try:
        if doc.get("format") != FORMAT:
            raise ValueError("unknown key format")
        kdf = doc["kdf"]
        cipher = doc["cipher"]
        if not isinstance(kdf, dict) or not isinstance(cipher, dict):
            raise ValueError("bad key file")
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        if not (2**10 <= n <= 2**20 and r == SCRYPT_R and p == SCRYPT_P):
            raise ValueError("unsupported scrypt parameters")
        public_key = bytes.fromhex(str(doc["public_key"]))
        kek = _derive(passphrase, bytes.fromhex(str(kdf["salt"])), n, r, p)
        seed = AESGCM(kek).decrypt(
            bytes.fromhex(str(cipher["nonce"])),
            bytes.fromhex(str(cipher["ciphertext"])),
            FORMAT.encode() + public_key,
        )
        key = SigningKey.from_seed(seed)
    except (InvalidTag, KeyError, ValueError, TypeError) as exc:
        raise DecryptionFailed("cannot unlock key") from exc
    if key.public_key != public_key:
        raise DecryptionFailed("cannot unlock key")
    return key


def save_key(path: Path, key: SigningKey, passphrase: str, *, n: int = SCRYPT_N) -> None:
    """Write an encrypted key file (mode 0600, a new keyring folder 0700); never overwrite."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = json.dumps(encrypt_key(key, passphrase, n=n), indent=2).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def load_key(path: Path, passphrase: str) -> SigningKey:
    """Read and unlock an encrypted key file."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise DecryptionFailed("cannot read key file") from exc
    if not isinstance(doc, dict):
        raise DecryptionFailed("cannot read key file")
    return decrypt_key(doc, passphrase)


def load_public_key(path: Path) -> bytes:
    """Return the public key recorded in a key file, without unlocking it.

    Raise ``DecryptionFailed`` if the file cannot be read as a key file.
    """
    try:
        doc = json.loads(path.read_bytes())
        public_key = bytes.fromhex(str(doc["public_key"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DecryptionFailed("cannot read key file") from exc
    if len(public_key) != 32:
        raise DecryptionFailed("cannot read key file")
    return public_key
