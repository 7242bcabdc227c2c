"""Sealing small secrets to a public key: HPKE (RFC 9180) base mode.

Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, single shot,
through ``cryptography.hazmat.primitives.hpke`` (pyca/cryptography 48). A sealed
box is ``enc (32 bytes) || ciphertext``. The ``info`` string binds the box to its
purpose and scope (e.g. vehicle and epoch): opening it under another ``info``
fails.

Recipients are named by their Ed25519 account keys, the keys the chain already
knows (vehicle owners, OEM custodians). The X25519 key is the birational image
of the Ed25519 key (libsodium's ``crypto_sign_ed25519_pk_to_curve25519``), so a
recipient opens with the same seed it signs with and needs no second
registration. Keys at rest stay in the existing encrypted keystore format.
"""

from __future__ import annotations

import nacl.bindings
import nacl.exceptions
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from carchain.crypto.signing import SigningKey, compute_x25519_public_key
from carchain.errors import DecryptionFailed

ENC_SIZE = 32
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def compute_x25519_private_key(key: SigningKey) -> X25519PrivateKey:
    """Return the X25519 private key that corresponds to an Ed25519 signing key."""
    raw = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(key.seed() + key.public_key)
    return X25519PrivateKey.from_private_bytes(bytes(raw))


def seal_to(recipient: bytes, plaintext: bytes, info: bytes) -> bytes:
    """Return an HPKE box of ``plaintext`` that only ``recipient`` (Ed25519 key) can open."""
    public = X25519PublicKey.from_public_bytes(compute_x25519_public_key(recipient))
    return SUITE.encrypt(plaintext, public, info=info)


def open_sealed_box(key: SigningKey, box: bytes, info: bytes) -> bytes:
    """Return the plaintext of a box sealed to ``key``; raise ``DecryptionFailed`` otherwise."""
    if len(box) <= ENC_SIZE:
        raise DecryptionFailed("cannot decrypt")
    try:
        return SUITE.decrypt(box, compute_x25519_private_key(key), info=info)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed("cannot decrypt") from exc
