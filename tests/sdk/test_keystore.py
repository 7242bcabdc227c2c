"""Keys at rest: encrypted under a passphrase, opaque failure on anything wrong."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from carchain.crypto.signing import SigningKey
from carchain.errors import DecryptionFailed
from carchain.sdk.keystore import (
    decrypt_key,
    encrypt_key,
    load_key,
    load_public_key,
    save_key,
)

FAST_N = 2**10  # tests only: a cheap scrypt cost


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def key_file(tmp_path: Path, key: SigningKey) -> Path:
    path = tmp_path / "keys" / "saic.json"
    save_key(path, key, "correct horse", n=FAST_N)
    return path


def test_round_trip(key_file: Path, key: SigningKey) -> None:
    loaded = load_key(key_file, "correct horse")
    assert loaded.public_key == key.public_key
    assert loaded.seed() == key.seed()
    assert load_public_key(key_file) == key.public_key


def test_file_holds_no_seed_and_is_private(key_file: Path, key: SigningKey) -> None:
    data = key_file.read_bytes()
    seed = key.seed()
    for form in (seed, seed.hex().encode(), seed.hex().upper().encode()):
        assert form not in data
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    doc = json.loads(data)
    assert doc["kdf"]["name"] == "scrypt" and doc["cipher"]["name"] == "aes-256-gcm"


def test_decrypts_with_the_documented_construction(key_file: Path, key: SigningKey) -> None:
    """Independently of the keystore code: scrypt -> AES-256-GCM, AAD format || public key."""
    doc = json.loads(key_file.read_bytes())
    kdf, cipher = doc["kdf"], doc["cipher"]
    kek = Scrypt(
        salt=bytes.fromhex(kdf["salt"]), length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]
    ).derive(b"correct horse")
    seed = AESGCM(kek).decrypt(
        bytes.fromhex(cipher["nonce"]),
        bytes.fromhex(cipher["ciphertext"]),
        b"carchain-key/v1" + key.public_key,
    )
    assert seed == key.seed()


def test_invalid_wrong_passphrase(key_file: Path) -> None:
    for wrong in ("correct hors", "Correct horse", "correct horse ", "x"):
        with pytest.raises(DecryptionFailed) as info:
            load_key(key_file, wrong)
        assert info.value.code == "decryption_failed"
        assert info.value.message == "cannot unlock key"  # says nothing more


def _tampered(doc: dict[str, object], path: list[str], value: object) -> dict[str, object]:
    out = json.loads(json.dumps(doc))
    target = out
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return out


def _flip_hex(h: str) -> str:
    raw = bytearray(bytes.fromhex(h))
    raw[len(raw) // 2] ^= 1
    return raw.hex()


@pytest.mark.parametrize(
    "change",
    [
        lambda d: _tampered(d, ["cipher", "ciphertext"], _flip_hex(d["cipher"]["ciphertext"])),
        lambda d: _tampered(d, ["cipher", "nonce"], _flip_hex(d["cipher"]["nonce"])),
        lambda d: _tampered(d, ["kdf", "salt"], _flip_hex(d["kdf"]["salt"])),
        lambda d: _tampered(d, ["kdf", "n"], 2**11),
        lambda d: _tampered(d, ["kdf", "n"], 2**30),  # a denial-of-service cost
        lambda d: _tampered(d, ["kdf", "n"], 1000),
        lambda d: _tampered(d, ["kdf", "r"], 1),
        lambda d: _tampered(d, ["public_key"], SigningKey.generate().public_key.hex()),
        lambda d: _tampered(d, ["public_key"], "zz"),
        lambda d: _tampered(d, ["format"], "carchain-key/v2"),
        lambda d: _tampered(d, ["cipher"], "oops"),
        lambda d: _tampered(d, ["cipher", "ciphertext"], d["cipher"]["ciphertext"][:-2]),
        lambda d: {k: v for k, v in d.items() if k != "kdf"},
    ],
)
def test_invalid_tampered_file(key_file: Path, change: object) -> None:
    doc = json.loads(key_file.read_bytes())
    key_file.write_text(json.dumps(change(doc)))  # type: ignore[operator]
    with pytest.raises(DecryptionFailed):
        load_key(key_file, "correct horse")


@pytest.mark.parametrize("content", [b"", b"not json", b"[]", b"null", b"\xff\xfe"])
def test_invalid_unreadable_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "k.json"
    path.write_bytes(content)
    with pytest.raises(DecryptionFailed):
        load_key(path, "pw")


def test_invalid_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DecryptionFailed):
        load_key(tmp_path / "nope.json", "pw")


def test_invalid_empty_passphrase_and_overwrite(key_file: Path, key: SigningKey) -> None:
    with pytest.raises(ValueError):
        encrypt_key(key, "")
    with pytest.raises(FileExistsError):
        save_key(key_file, SigningKey.generate(), "pw", n=FAST_N)
    assert load_key(key_file, "correct horse").public_key == key.public_key


def test_each_encryption_is_fresh(key: SigningKey) -> None:
    a, b = encrypt_key(key, "pw", n=FAST_N), encrypt_key(key, "pw", n=FAST_N)
    assert a["cipher"] != b["cipher"] and a["kdf"] != b["kdf"]
    assert decrypt_key(a, "pw").seed() == decrypt_key(b, "pw").seed() == key.seed()


@pytest.mark.parametrize(
    "content", [b"", b"{}", b'{"public_key": "zz"}', b'{"public_key": "abcd"}', b"[1]"]
)
def test_invalid_public_key_of_damaged_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "k.json"
    path.write_bytes(content)
    with pytest.raises(DecryptionFailed):
        load_public_key(path)
