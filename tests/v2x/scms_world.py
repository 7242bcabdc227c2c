"""An SCMS around the in-memory chain: SAIC's RA and PCA with a real 1609.2 CA
certificate registered on chain, the two LAs, and registered cars."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from carchain.core import vehicles as veh
from carchain.core.v2x_revocation import compute_period, compute_period_start_s
from carchain.crypto.ecdsa import P256SigningKey
from carchain.crypto.signing import SigningKey
from carchain.v2x.ca_trust import build_ca_registration
from carchain.v2x.certificates import PSID_CAM, PSID_DENM, build_ca_certificate
from carchain.v2x.issuance import (
    CarRequester,
    PseudonymCertificateAuthority,
    PseudonymCredential,
    RegistrationAuthority,
)
from carchain.v2x.linkage import LinkageAuthority
from tests.conftest import seeded_key
from tests.core.test_vehicles import register_body
from tests.core.v2x_world import LA1_ID, LA2_ID, World, carry, open_world


@dataclass
class Scms:
    """The chain world plus the off-chain SCMS services."""

    world: World
    la1: LinkageAuthority
    la2: LinkageAuthority
    pca: PseudonymCertificateAuthority
    ra: RegistrationAuthority

    @property
    def period(self) -> int:
        """Return the linkage period at the chain's next block."""
        return self.world.period

    def car(self, local: str, oem: str = "saic") -> CarRequester:
        """Register ``oem:local`` on chain (once) and return its requester."""
        vid = f"{oem}:{local}"
        if veh.get_vehicle_optional(self.world.chain.state, vid) is None:
            self.world.chain.send(oem, register_body(vid))
        return CarRequester(vid, seeded_key("vehicle/" + vid))

    def issue(
        self, cars: list[CarRequester], periods: int = 1
    ) -> dict[str, list[PseudonymCredential]]:
        """Run one issuance round for ``cars``; return each car's credentials."""
        requests = [c.build_request(self.pca.key.public_key, self.period, periods) for c in cars]
        pca_requests = self.ra.process_requests(self.world.chain.state, requests)
        boxes = self.ra.route_responses([self.pca.process_request(r) for r in pca_requests])
        return {
            c.vehicle_id: c.open_certificates(boxes[c.vehicle_id], self.pca.hashed_id8)
            for c in cars
        }


def open_scms() -> Scms:
    """Return a world whose SAIC PCA is a real 1609.2 CA registered on chain."""
    world = open_world()
    ca_key = P256SigningKey.generate()
    # The CA's validity covers the whole current week's pseudonyms (they start before it).
    start = compute_period_start_s(world.period) - 8 * 86400
    ca_cert = build_ca_certificate(ca_key, [PSID_CAM, PSID_DENM], start, 24 * 365 * 5)
    action = build_ca_registration("saic", ca_key, ca_cert, start, start + 5 * 365 * 86400)
    assert carry(world.chain, "saic", action).status == "executed"
    la1 = LinkageAuthority(LA1_ID, seeded_key("caam"))
    la2 = LinkageAuthority(LA2_ID, seeded_key("cstc"))
    pca = PseudonymCertificateAuthority(SigningKey.generate(), ca_key, ca_cert)
    ra = RegistrationAuthority("saic", pca.key.public_key, la1, la2)
    assert compute_period(world.chain.now_ms // 1000) >= 0
    return Scms(world, la1, la2, pca, ra)


@pytest.fixture(name="scms")
def scms_fixture() -> Iterator[Scms]:
    """A fresh SCMS."""
    yield open_scms()
