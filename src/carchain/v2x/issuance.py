"""Issuing pseudonym certificates: the SCMS split between car, RA, two LAs and the PCA.

Who sees what (each is a separate service with its own key; the OEM runs the RA
and the PCA, the LAs are other consortium members; docs/v2x.md has the table):

- car: its own keys and certificates.
- RA (OEM): the vehicle id, its signature, opaque sealed requests and PLV boxes;
  never a public key, PLV, linkage value or certificate.
- LA 1, LA 2: "a chain from period i0, n certificates per period"; never the
  vehicle, a certificate or the other LA's PLVs.
- PCA (OEM): per certificate a public key, a one-time response key, plv1 and
  plv2 (so lv), i and j; never the vehicle, nor which requests came from one car.

The car seals every certificate request (pseudonym key + a one-time response key)
to the PCA, so the RA relays what it cannot read; the RA forwards requests with
their PLV boxes in an order shuffled across all the cars of a round, so the PCA
cannot group them by car (as in SCMS, this needs many cars per round). Each
certificate comes back sealed to its own response key: the RA cannot read it and
the PCA learns no key that repeats across a car's certificates. Without both LAs
nobody can tell which linkage values belong to one car; without the RA's records
nobody can name the car. For revocation the PCA keeps, per certificate, the two LA
lookups (sealed to each LA): each LA alone can open its own and find its chain.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import msgspec

from carchain.core import v2x_revocation as rvk
from carchain.core import vehicles
from carchain.core.state import KVView
from carchain.crypto.ecdsa import P256SigningKey
from carchain.crypto.linkage import compute_linkage_value
from carchain.crypto.sealing import open_sealed_box, seal_to
from carchain.crypto.signing import SigningKey, verify_signature
from carchain.errors import InvalidV2xBody, VehicleNotEligible
from carchain.v2x.certificates import (
    PSID_CAM,
    PSID_DENM,
    LinkageData,
    build_pseudonym_certificate,
    compute_hashed_id8,
    decode_certificate,
)
from carchain.v2x.linkage import EncryptedPlv, LinkageAuthority, open_plv

REQUEST_INFO = b"carchain/v2x-cert-request/v1"
RESPONSE_INFO = b"carchain/v2x-cert-response/v1"
BATCH_DOMAIN = b"carchain/v2x-batch-request/v1\x00"
CERTS_PER_PERIOD = 20  # a week's pseudonyms, all valid together; the car rotates among them
OVERLAP_S = 3600  # a week's certificates start an hour early and end an hour late
MAX_PERIODS_PER_BATCH = 4
PSIDS = [PSID_CAM, PSID_DENM]


class CertRequest(msgspec.Struct, array_like=True, frozen=True):
    """What the car seals to the PCA for one certificate."""

    public_key: bytes  # the pseudonym's P-256 key, compressed
    response_key: bytes  # a one-time Ed25519 key the certificate is sealed back to


class BatchRequest(msgspec.Struct, array_like=True, frozen=True):
    """What the car sends its RA: who it is, which periods, and opaque sealed requests."""

    vehicle_id: str
    first_period: int
    periods: int
    per_period: int
    sealed: list[bytes]  # periods * per_period boxes, period-major
    signature: bytes = b""


class PcaRequest(msgspec.Struct, frozen=True):
    """What the RA hands the PCA for one certificate (nothing names the car)."""

    request_id: bytes
    i_period: int
    j: int
    sealed: bytes
    plv1: EncryptedPlv
    plv2: EncryptedPlv


class PcaResponse(msgspec.Struct, frozen=True):
    """The PCA's answer for one request: the certificate sealed to the response key."""

    request_id: bytes
    sealed_certificate: bytes


@dataclass(frozen=True)
class PseudonymCredential:
    """One certificate the car holds, with its private key (keep encrypted at rest)."""

    certificate: bytes
    key: P256SigningKey
    i_period: int


def compute_validity(i_period: int) -> tuple[int, int]:
    """Return (start, duration in hours) of period ``i_period``'s certificates."""
    start = rvk.compute_period_start_s(i_period) - OVERLAP_S
    return start, (rvk.PERIOD_S + 2 * OVERLAP_S) // 3600


def compute_batch_signing_bytes(request: BatchRequest) -> bytes:
    """Return the bytes the car's vehicle key signs for a batch request."""
    return BATCH_DOMAIN + msgspec.msgpack.encode(msgspec.structs.replace(request, signature=b""))


# --- the car --------------------------------------------------------------------------


@dataclass
class CarRequester:
    """The car's side: makes a batch request, opens the certificates that come back."""

    vehicle_id: str
    vehicle_key: SigningKey
    pending: list[tuple[P256SigningKey, SigningKey]] = field(default_factory=list)

    def build_request(
        self,
        pca_key: bytes,
        first_period: int,
        periods: int = 1,
        per_period: int = CERTS_PER_PERIOD,
    ) -> BatchRequest:
        """Return a signed batch request; fresh pseudonym and response keys per certificate."""
        self.pending = [
            (P256SigningKey.generate(), SigningKey.generate()) for _ in range(periods * per_period)
        ]
        sealed = [
            seal_to(
                pca_key,
                msgspec.msgpack.encode(CertRequest(k.public_key_compressed, r.public_key)),
                REQUEST_INFO,
            )
            for k, r in self.pending
        ]
        req = BatchRequest(self.vehicle_id, first_period, periods, per_period, sealed)
        return msgspec.structs.replace(
            req, signature=self.vehicle_key.sign(compute_batch_signing_bytes(req))
        )

    def open_certificates(
        self, sealed_certificates: list[bytes], pca_hashed_id8: bytes
    ) -> list[PseudonymCredential]:
        """Open the certificates in request order; check each is ours and issued by the PCA."""
        if len(sealed_certificates) != len(self.pending):
            raise InvalidV2xBody("one certificate per request", field="certificates")
        out = []
        for (key, response), box in zip(self.pending, sealed_certificates, strict=True):
            cert = decode_certificate(open_sealed_box(response, box, RESPONSE_INFO))
            if cert.public_key != key.public_key_compressed or cert.issuer_id8 != pca_hashed_id8:
                raise InvalidV2xBody(
                    "a returned certificate is not for our key or CA", field="certificate"
                )
            if cert.linkage is None:
                raise InvalidV2xBody(
                    "a pseudonym certificate carries linkage data", field="certificate"
                )
            out.append(PseudonymCredential(cert.raw, key, cert.linkage.i_cert))
        return out


# --- the registration authority (OEM) ---------------------------------------------------


@dataclass
class RegistrationAuthority:
    """The OEM's RA: checks the car on chain, gets PLVs from both LAs, shuffles, routes back."""

    oem: str
    pca_key: bytes  # the PCA's Ed25519 key: the LAs seal PLVs to it
    la1: LinkageAuthority
    la2: LinkageAuthority
    routes: dict[bytes, tuple[str, int]] = field(default_factory=dict)  # request id -> car, index
    # car -> its chain id at each LA: one chain per car for good, as in SCMS, so that the
    # seeds a revocation releases also cover every batch the car asks for afterwards
    vehicle_chains: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)

    def validate_vehicle(self, view: KVView, request: BatchRequest) -> None:
        """Raise ``VehicleNotEligible`` unless the car is ours, registered and not revoked,
        and the request is signed by its current key."""
        v = vehicles.get_vehicle_optional(view, request.vehicle_id)
        if v is None or v.oem != self.oem or not vehicles.is_active_vehicle(v):
            status = (
                "unknown" if v is None else ("other_oem" if v.oem != self.oem else v.status.value)
            )
            raise VehicleNotEligible(
                "vehicle may not get pseudonyms", vehicle_id=request.vehicle_id[:80], status=status
            )
        verify_signature(v.public_key, compute_batch_signing_bytes(request), request.signature)

    def process_requests(self, view: KVView, requests: list[BatchRequest]) -> list[PcaRequest]:
        """Return the PCA requests of a round of cars, shuffled across them."""
        out: list[PcaRequest] = []
        for request in requests:
            self.validate_vehicle(view, request)
            out.extend(self._expand(request))
        secrets.SystemRandom().shuffle(out)
        return out

    def _expand(self, request: BatchRequest) -> list[PcaRequest]:
        n = request.per_period
        if not 0 < request.periods <= MAX_PERIODS_PER_BATCH or not 0 < n <= rvk.MAX_J:
            raise InvalidV2xBody(
                "periods or certificates per period out of range", field="per_period"
            )
        if len(request.sealed) != request.periods * n:
            raise InvalidV2xBody("one sealed request per certificate", field="sealed")
        c1, c2 = self.get_vehicle_chains(request.vehicle_id, request.first_period)
        out = []
        for p in range(request.periods):
            i = request.first_period + p
            plv1 = self.la1.compute_encrypted_plvs(c1, i, n, self.pca_key)
            plv2 = self.la2.compute_encrypted_plvs(c2, i, n, self.pca_key)
            for j in range(n):
                rid = secrets.token_bytes(16)
                self.routes[rid] = (request.vehicle_id, p * n + j)
                out.append(PcaRequest(rid, i, j, request.sealed[p * n + j], plv1[j], plv2[j]))
        return out

    def get_vehicle_chains(self, vehicle_id: str, first_period: int) -> tuple[bytes, bytes]:
        """Return the car's chain at each LA, opened from ``first_period`` at its first batch.

        A new chain per batch would escape revocation: the released seeds are those of the
        reported certificate's chain, so a revoked car's next batch came from chains
        nobody had revoked and its fresh pseudonyms verified.
        """
        chains = self.vehicle_chains.get(vehicle_id)
        if chains is None:
            chains = (
                self.la1.process_new_chain(first_period),
                self.la2.process_new_chain(first_period),
            )
            self.vehicle_chains[vehicle_id] = chains
        return chains

    def route_responses(self, responses: list[PcaResponse]) -> dict[str, list[bytes]]:
        """Return, per car, its sealed certificates in the order it asked for them."""
        per_car: dict[str, dict[int, bytes]] = {}
        for r in responses:
            route = self.routes.pop(r.request_id, None)
            if route is None:
                raise InvalidV2xBody("a response for no pending request", field="request_id")
            car, index = route
            per_car.setdefault(car, {})[index] = r.sealed_certificate
        return {car: [boxes[k] for k in sorted(boxes)] for car, boxes in per_car.items()}


def _open_request(key: SigningKey, sealed: bytes) -> CertRequest:
    try:
        return msgspec.msgpack.decode(open_sealed_box(key, sealed, REQUEST_INFO), type=CertRequest)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidV2xBody("not a certificate request", field="sealed") from exc


# --- the pseudonym CA (OEM) -------------------------------------------------------------


@dataclass
class PseudonymCertificateAuthority:
    """The OEM's PCA: opens requests and PLVs, signs certificates, keeps the LA lookups."""

    key: SigningKey  # Ed25519: requests and PLVs are sealed to it
    ca_key: P256SigningKey
    ca_certificate: bytes
    lookups: dict[bytes, tuple[bytes, bytes]] = field(default_factory=dict)  # cert id -> LA lookups

    @property
    def hashed_id8(self) -> bytes:
        """Return the CA certificate's HashedId8 (the issuer id of its pseudonyms)."""
        return compute_hashed_id8(self.ca_certificate)

    def process_request(self, request: PcaRequest) -> PcaResponse:
        """Issue one certificate with lv = plv1 XOR plv2; seal it to the request's response key."""
        ask = _open_request(self.key, request.sealed)
        p1, p2 = open_plv(self.key, request.plv1.for_pca), open_plv(self.key, request.plv2.for_pca)
        if {(p.i_period, p.j) for p in (p1, p2)} != {
            (request.i_period, request.j)
        } or p1.la_id == p2.la_id:
            raise InvalidV2xBody("the PLVs are not for this period and index", field="plv")
        start, hours = compute_validity(request.i_period)
        ca = decode_certificate(self.ca_certificate)
        if not (ca.start_s <= start and start + hours * 3600 <= ca.end_s):
            raise InvalidV2xBody("the period lies outside the CA's validity", field="i_period")
        linkage = LinkageData(request.i_period, compute_linkage_value(p1.plv, p2.plv))
        cert = build_pseudonym_certificate(
            self.ca_certificate, self.ca_key, ask.public_key, start, hours, PSIDS, linkage
        )
        self.lookups[compute_hashed_id8(cert)] = (request.plv1.lookup, request.plv2.lookup)
        return PcaResponse(request.request_id, seal_to(ask.response_key, cert, RESPONSE_INFO))

    def get_lookups(self, certificate_hashed_id8: bytes) -> tuple[bytes, bytes]:
        """Return the two LA lookups of a certificate it issued (for a revocation)."""
        found = self.lookups.get(certificate_hashed_id8)
        if found is None:
            raise InvalidV2xBody("this PCA did not issue the certificate", field="hashed_id8")
        return found
