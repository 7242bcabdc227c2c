"""Building and signing transactions."""

from __future__ import annotations

import msgspec

from carchain.core import case_records as cr
from carchain.core import erasure, holds
from carchain.core.escrow_committee import SetEscrowCommittee
from carchain.core.registry import TX_TYPES
from carchain.core.transactions import TX_VERSION, Envelope, compute_signing_bytes, encode
from carchain.core.vehicles import compute_rotation_signing_bytes, compute_transfer_signing_bytes
from carchain.crypto.signing import SigningKey

_BODY_TYPES = {t.body: t.name for t in TX_TYPES.values()}


def compute_tx_type(body: msgspec.Struct) -> str:
    """Return the wire type name for a body struct."""
    try:
        return _BODY_TYPES[type(body)]
    except KeyError:
        raise TypeError(f"{type(body).__name__} is not a transaction body") from None


def build_tx(chain_id: str, key: SigningKey, nonce: int, body: msgspec.Struct) -> bytes:
    """Return the signed, encoded transaction carrying ``body``."""
    tx_type = compute_tx_type(body)
    raw_body = encode(body)
    sig = key.sign(
        compute_signing_bytes(TX_VERSION, chain_id, key.public_key, nonce, tx_type, raw_body)
    )
    return encode(Envelope(TX_VERSION, chain_id, key.public_key, nonce, tx_type, raw_body, sig))


def sign_transfer_consent(
    chain_id: str, owner: SigningKey, vehicle_id: str, new_owner: bytes, transfer_seq: int
) -> bytes:
    """Return the current owner's signature consenting to hand the vehicle to ``new_owner``."""
    return owner.sign(compute_transfer_signing_bytes(chain_id, vehicle_id, new_owner, transfer_seq))


def sign_rotation_consent(
    chain_id: str,
    owner: SigningKey,
    vehicle_id: str,
    new_public_key: bytes,
    key_version: int,
    transfer_seq: int,
) -> bytes:
    """Return the current owner's signature consenting to rotate the vehicle to a new key.

    ``key_version`` is the version the new key will get (the vehicle's current
    one plus one) and ``transfer_seq`` the vehicle's current transfer count.
    """
    return owner.sign(
        compute_rotation_signing_bytes(
            chain_id, vehicle_id, new_public_key, key_version, transfer_seq
        )
    )


# --- erasure and legal holds (issue 9 item 7) -----------------------------------------


def build_erasure_request(
    vehicle_id: str, categories: list[str], data_from_ms: int, data_until_ms: int
) -> erasure.RequestErasure:
    """Return the owner's ``erasure.request`` body (categories sorted and deduplicated)."""
    return erasure.RequestErasure(vehicle_id, sorted(set(categories)), data_from_ms, data_until_ms)


def build_erasure_complete(
    vehicle_id: str, erasure_seq: int, destroyed: list[bytes], tombstone_hash: bytes
) -> erasure.CompleteErasure:
    """Return the OEM custody service's ``erasure.complete`` body (key refs as given)."""
    return erasure.CompleteErasure(vehicle_id, erasure_seq, list(destroyed), tombstone_hash)


def build_hold_place(
    vehicle_id: str, categories: list[str], data_from_ms: int, data_until_ms: int, case_ref: bytes
) -> holds.PlaceHold:
    """Return a court's ``legal_hold.place`` body; ``case_ref`` is the case's 32-byte hash
    (made off chain: no case text goes on chain)."""
    cats = sorted(set(categories))
    return holds.PlaceHold(vehicle_id, cats, data_from_ms, data_until_ms, case_ref)


def build_hold_lift(vehicle_id: str, hold_seq: int) -> holds.LiftHold:
    """Return the placing court's ``legal_hold.lift`` body."""
    return holds.LiftHold(vehicle_id, hold_seq)


# --- lawful access (issue 10: core/escrow_committee.py, cases.py, escrow_releases.py) ---


def build_register_escrow_key(escrow_key: bytes) -> cr.RegisterEscrowKey:
    """Return a member's ``escrow.register_key`` body (its escrow key's Ed25519 public key)."""
    return cr.RegisterEscrowKey(escrow_key)


def build_set_escrow_committee(
    seats: list[tuple[str, str]], threshold: int, categories: list[str]
) -> SetEscrowCommittee:
    """Return the governance action setting the next escrow committee: ``seats`` as
    (member id, organisation type) in share-index order (member id ``""``: the
    vehicle's OEM); wrap it in ``governance.Propose``."""
    return SetEscrowCommittee(
        [cr.CommitteeSeat(m, o) for m, o in seats], threshold, sorted(set(categories))
    )


def build_case_scope(
    vehicles: list[str], categories: list[str], data_from_ms: int, data_until_ms: int
) -> cr.CaseScope:
    """Return a case scope: vehicles and categories sorted and deduplicated, a half-open
    data window."""
    return cr.CaseScope(sorted(set(vehicles)), sorted(set(categories)), data_from_ms, data_until_ms)


def build_case_open(
    case_ref: bytes,
    legal_basis: str,
    scope: cr.CaseScope,
    justification_hash: bytes,
    officer_key: bytes,
) -> cr.OpenCase:
    """Return law enforcement's ``case.open`` body: hashes of the case reference and of
    the justification document (both kept off chain), the officer's Ed25519 key."""
    return cr.OpenCase(case_ref, legal_basis, scope, justification_hash, officer_key)


def build_case_authorize(
    case_id: int, scope: cr.CaseScope, expires_ms: int, notice_delay_ms: int
) -> cr.AuthorizeCase:
    """Return a court's ``case.authorize`` body (``scope`` inside the opened one)."""
    return cr.AuthorizeCase(case_id, scope, expires_ms, notice_delay_ms)


def build_case_reject(case_id: int, reason: str) -> cr.RejectCase:
    """Return a court's ``case.reject`` body (``reason`` a ``DeclineReason`` code)."""
    return cr.RejectCase(case_id, reason)


def build_case_approve(case_id: int) -> cr.ApproveCase:
    """Return a custodian's ``case.approve`` body."""
    return cr.ApproveCase(case_id)


def build_case_decline(case_id: int, reason: str) -> cr.DeclineCase:
    """Return a custodian's ``case.decline`` body (``reason`` a ``DeclineReason`` code)."""
    return cr.DeclineCase(case_id, reason)


def build_case_extend_notice(case_id: int, notice_delay_ms: int) -> cr.ExtendNotice:
    """Return the authorising court's ``case.extend_notice`` body (the new total delay)."""
    return cr.ExtendNotice(case_id, notice_delay_ms)


def build_case_report(case_id: int, report_hash: bytes) -> cr.ReportCase:
    """Return the authority's ``case.report`` body (the final report's SHA-256)."""
    return cr.ReportCase(case_id, report_hash)


def build_case_close(case_id: int) -> cr.CloseCase:
    """Return the authority's or the authorising court's ``case.close`` body."""
    return cr.CloseCase(case_id)


def build_escrow_release(case_id: int, items: list[cr.ShareItem]) -> cr.ReleaseShares:
    """Return a custodian's ``escrow.release`` body (at most 256 shares, each sealed to
    the officer by ``data.escrow_shares.reseal_share_for_officer``)."""
    return cr.ReleaseShares(case_id, list(items))


def build_case_receipt(
    case_id: int, vehicle_id: str, items: list[cr.ReceiptItemRef]
) -> cr.CaseReceipt:
    """Return the officer's ``case.receipt`` body for batches of one vehicle it decrypted."""
    return cr.CaseReceipt(case_id, vehicle_id, list(items))
