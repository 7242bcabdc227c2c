"""Car-to-car data transfers: the sender's signed transfer and the receiver's signed receipt.

When car A hands data X to car B (a hazard warning with a sensor snapshot, data
relayed for a car without connectivity), A signs with its current pseudonym key a
``Transfer``: a salted commitment to X (``SHA-256(domain || salt || X)``, so the
hash reveals nothing of a guessable X), B's pseudonym (its certificate's
HashedId8) and the time. B checks it and signs a ``Receipt`` over the transfer's
hash with its own pseudonym key. Both cars log the pair as a ``v2x_transfer``
record; it goes through their OEM's gateway and is anchored like all their data.
Whoever holds X, the salt and the two cars' record proofs can show that A sent X
to B at t and that B acknowledged it (``carchain.sdk.v2x_transfer_proofs``); the
chain only ever sees the anchored roots, never X.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import msgspec

from carchain.crypto.ecdsa import verify_p256
from carchain.data.records import V2xTransfer
from carchain.errors import CarchainError, InvalidTransfer
from carchain.v2x.ca_trust import ChainCaTrustStore, verify_issued_certificate
from carchain.v2x.certificates import Certificate, compute_hashed_id8, decode_certificate
from carchain.v2x.issuance import PseudonymCredential

COMMITMENT_DOMAIN = b"carchain/v2x-transfer-data/v1\x00"
TRANSFER_DOMAIN = b"carchain/v2x-transfer/v1\x00"
RECEIPT_DOMAIN = b"carchain/v2x-receipt/v1\x00"
SALT_BYTES = 16
MAX_SKEW_MS = 10_000  # a receipt is signed within 10 s of the transfer


class Transfer(msgspec.Struct, array_like=True, frozen=True):
    """The sender's signed statement: this data (committed), to this pseudonym, at this time."""

    data_commitment: bytes
    receiver_id8: bytes
    time_ms: int
    sender_certificate: bytes
    signature_r: bytes = b""
    signature_s: bytes = b""


class Receipt(msgspec.Struct, array_like=True, frozen=True):
    """The receiver's signed acknowledgement of a transfer (by its hash)."""

    transfer_hash: bytes
    time_ms: int
    receiver_certificate: bytes
    signature_r: bytes = b""
    signature_s: bytes = b""


@dataclass(frozen=True)
class VerifiedTransfer:
    """What a verified transfer and receipt establish (pseudonyms; the cars come from proofs)."""

    data_commitment: bytes
    sender_id8: bytes
    receiver_id8: bytes
    sent_ms: int
    received_ms: int
    transfer_hash: bytes


def compute_data_commitment(data: bytes, salt: bytes) -> bytes:
    """Return the salted commitment to the transferred data."""
    if len(salt) != SALT_BYTES:
        raise InvalidTransfer("the salt is 16 bytes", reason="salt")
    return hashlib.sha256(COMMITMENT_DOMAIN + salt + data).digest()


def _digest(domain: bytes, unsigned: msgspec.Struct) -> bytes:
    return hashlib.sha256(domain + msgspec.msgpack.encode(unsigned)).digest()


def compute_transfer_hash(transfer: Transfer) -> bytes:
    """Return the hash of the signed transfer that the receipt covers."""
    return hashlib.sha256(TRANSFER_DOMAIN + msgspec.msgpack.encode(transfer)).digest()


def build_transfer(
    sender: PseudonymCredential, receiver_certificate: bytes, data: bytes, time_ms: int
) -> tuple[Transfer, bytes]:
    """Return the signed transfer of ``data`` to the receiver's pseudonym, and the salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    unsigned = Transfer(
        compute_data_commitment(data, salt), compute_hashed_id8(receiver_certificate), time_ms,
        sender.certificate,
    )  # fmt: skip
    r, s = sender.key.sign_digest(_digest(TRANSFER_DOMAIN, unsigned))
    return msgspec.structs.replace(unsigned, signature_r=r, signature_s=s), salt


def build_receipt(receiver: PseudonymCredential, transfer: Transfer, time_ms: int) -> Receipt:
    """Return the receiver's signed receipt, after checking the transfer is to it."""
    verify_transfer_signature(transfer)
    if transfer.receiver_id8 != compute_hashed_id8(receiver.certificate):
        raise InvalidTransfer("the transfer names another receiver", reason="receiver")
    unsigned = Receipt(compute_transfer_hash(transfer), time_ms, receiver.certificate)
    r, s = receiver.key.sign_digest(_digest(RECEIPT_DOMAIN, unsigned))
    return msgspec.structs.replace(unsigned, signature_r=r, signature_s=s)


def _verify(domain: bytes, signed: Transfer | Receipt, cert_raw: bytes, what: str) -> Certificate:
    unsigned = msgspec.structs.replace(signed, signature_r=b"", signature_s=b"")
    try:
        cert = decode_certificate(cert_raw)
        verify_p256(
            cert.public_key, _digest(domain, unsigned), signed.signature_r, signed.signature_s
        )
    except CarchainError as exc:
        raise InvalidTransfer(f"the {what} signature does not verify", reason=what) from exc
    return cert


def verify_transfer_signature(transfer: Transfer) -> Certificate:
    """Return the sender's certificate if its pseudonym key signed the transfer."""
    return _verify(TRANSFER_DOMAIN, transfer, transfer.sender_certificate, "transfer")


def verify_transfer_and_receipt(
    transfer: Transfer, receipt: Receipt, trust: ChainCaTrustStore | None = None
) -> VerifiedTransfer:
    """Check both signatures, that the receipt is by the named receiver, over this transfer;
    with ``trust``, also that both pseudonyms were issued by trusted CAs and valid then."""
    if trust is not None:
        try:
            verify_issued_certificate(transfer.sender_certificate, trust, transfer.time_ms // 1000)
            verify_issued_certificate(receipt.receiver_certificate, trust, receipt.time_ms // 1000)
        except CarchainError as exc:
            raise InvalidTransfer("a pseudonym is not trusted", reason="certificate") from exc
    sender = verify_transfer_signature(transfer)
    receiver = _verify(RECEIPT_DOMAIN, receipt, receipt.receiver_certificate, "receipt")
    if receiver.hashed_id8 != transfer.receiver_id8:
        raise InvalidTransfer("the receipt is not by the transfer's receiver", reason="receiver")
    if not hmac.compare_digest(receipt.transfer_hash, compute_transfer_hash(transfer)):
        raise InvalidTransfer("the receipt is for another transfer", reason="transfer_hash")
    if not 0 <= receipt.time_ms - transfer.time_ms <= MAX_SKEW_MS:
        raise InvalidTransfer("the receipt's time does not follow the transfer's", reason="time")
    return VerifiedTransfer(
        transfer.data_commitment, sender.hashed_id8, receiver.hashed_id8, transfer.time_ms,
        receipt.time_ms, receipt.transfer_hash,
    )  # fmt: skip


def build_transfer_record(role: str, transfer: Transfer, receipt: Receipt) -> V2xTransfer:
    """Return the exchange-log record a car logs (``role``: ``sender`` or ``receiver``)."""
    if role not in ("sender", "receiver"):
        raise InvalidTransfer("role is sender or receiver", reason="role")
    return V2xTransfer(
        receipt.time_ms, role, msgspec.msgpack.encode(transfer), msgspec.msgpack.encode(receipt)
    )


def decode_transfer_record(record: V2xTransfer) -> tuple[Transfer, Receipt]:
    """Return the transfer and receipt a record holds; raise ``InvalidTransfer``."""
    if record.transfer is None or record.receipt is None:
        raise InvalidTransfer("the record lacks the transfer or the receipt", reason="record")
    try:
        return (
            msgspec.msgpack.decode(record.transfer, type=Transfer),
            msgspec.msgpack.decode(record.receipt, type=Receipt),
        )
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidTransfer("the record's transfer does not decode", reason="record") from exc


def validate_data(verified: VerifiedTransfer, data: bytes, salt: bytes) -> None:
    """Raise ``InvalidTransfer`` unless ``data`` with ``salt`` is what the transfer committed to."""
    if not hmac.compare_digest(compute_data_commitment(data, salt), verified.data_commitment):
        raise InvalidTransfer("the data is not what was transferred", reason="data")
