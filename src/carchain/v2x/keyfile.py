"""V2X keys at rest: a P-256 private scalar encrypted with a passphrase (scrypt + AES-256-GCM).

The same scheme as the member keystore (``sdk/keystore``), with its own format name so that
an Ed25519 key file and a V2X key file can never be taken for each other.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from carchain.crypto.ecdsa import P256SigningKey
from carchain.errors import DecryptionFailed

FORMAT = "carchain-v2x-key/v1"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


def _derive(passphrase: str, salt: bytes, n: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase.encode())


def save_p256_key(path: Path, key: P256SigningKey, passphrase: str, n: int = SCRYPT_N) -> None:
    """Write ``key`` encrypted under ``passphrase`` (file mode 0600); never overwrite."""
    if not passphrase:
        raise ValueError("a passphrase is required to store a key")
    salt, nonce = os.urandom(16), os.urandom(12)
    public = key.public_key_compressed
    ciphertext = AESGCM(_derive(passphrase, salt, n)).encrypt(
        nonce, key.to_bytes(), FORMAT.encode() + public
    )
    doc = {
        "format": FORMAT,
        "public_key": public.hex(),
        "kdf": {"name": "scrypt", "n": n, "salt": salt.hex()},
        "cipher": {"name": "aes-256-gcm", "nonce": nonce.hex(), "ciphertext": ciphertext.hex()},
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)


def load_p256_key(path: Path, passphrase: str) -> P256SigningKey:
    """Read and unlock a V2X key file; raise ``DecryptionFailed`` on any problem."""
    try:
        doc = json.loads(path.read_bytes())
        if doc["format"] != FORMAT or not 2**10 <= int(doc["kdf"]["n"]) <= 2**20:
            raise ValueError("not a V2X key file")
        public = bytes.fromhex(doc["public_key"])
        kek = _derive(passphrase, bytes.fromhex(doc["kdf"]["salt"]), int(doc["kdf"]["n"]))
        scalar = AESGCM(kek).decrypt(
            bytes.fromhex(doc["cipher"]["nonce"]),
            bytes.fromhex(doc["cipher"]["ciphertext"]),
            FORMAT.encode() + public,
        )
        key = P256SigningKey.from_bytes(scalar)
    except (OSError, InvalidTag, KeyError, ValueError, TypeError) as exc:
        raise DecryptionFailed("cannot unlock V2X key") from exc
    if key.public_key_compressed != public:
        raise DecryptionFailed("cannot unlock V2X key")
    return key
