"""Running a custodian service: its home (journal), its keys, node and gateways, a thread.

The home holds the journal (``custodian.db``, 0700 folder). The keys stay in the
keyring, encrypted at rest (``sdk/keystore``), and are unlocked once at start:
the member key signs ``escrow.release`` and the gateway reads; the escrow key
opens the shares the cars sealed to this custodian. Each gateway URL is asked
once which OEM it serves (``/status``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from carchain.core.members import get_member_by_key
from carchain.crypto.signing import SigningKey
from carchain.custodian.journal import CustodianJournal
from carchain.custodian.release import ReleaseContext
from carchain.custodian.service import CustodianService, get_chain_time_ms, run_custodian_loop
from carchain.errors import GatewayNotConfigured
from carchain.gateway.service import CustodyHealth
from carchain.sdk.account import Account
from carchain.sdk.case_gateway import CaseGatewayClient
from carchain.sdk.chainview import ChainView
from carchain.sdk.client import Client
from carchain.sdk.http import HttpService

JOURNAL_FILE = "custodian.db"
DEFAULT_INTERVAL_S = 1.0


def open_journal(home: Path) -> CustodianJournal:
    """Open (creating) the journal in a custodian home (folder readable by this user only)."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return CustodianJournal(home / JOURNAL_FILE)


@dataclass
class CustodianSettings:
    """What a custodian service runs with."""

    home: Path
    member_key: SigningKey
    escrow_key: SigningKey
    node_url: str
    gateway_urls: list[str]
    require_local_approval: bool = False
    interval_s: float = DEFAULT_INTERVAL_S


def open_gateways(urls: list[str], signer: SigningKey) -> dict[str, CaseGatewayClient]:
    """Return a case gateway client per OEM, each asked once which OEM it serves."""
    out: dict[str, CaseGatewayClient] = {}
    for url in urls:
        gw = CaseGatewayClient(url, signer=signer)
        oem = gw.get_oem()
        if oem in out:
            raise GatewayNotConfigured("two gateways serve the same OEM", oem=oem)
        out[oem] = gw
    return out


@dataclass
class CustodianRunner:
    """A custodian service on its own thread (``start``/``stop``), for the CLI and tests."""

    settings: CustodianSettings
    health: CustodyHealth = field(default_factory=CustodyHealth)
    stop_event: threading.Event = field(default_factory=threading.Event)
    service: CustodianService | None = None
    thread: threading.Thread | None = None
    clients: list[HttpService] = field(default_factory=list)

    def open(self) -> CustodianService:
        """Connect to the node and gateways, resolve the member and build the service."""
        s = self.settings
        client = Client(s.node_url)
        view = ChainView(client)
        member = get_member_by_key(view, s.member_key.public_key)
        gateways = open_gateways(s.gateway_urls, s.member_key)
        same = s.escrow_key.public_key == s.member_key.public_key
        keys = [s.escrow_key] + ([] if same else [s.member_key])
        ctx = ReleaseContext(view, Account(client, s.member_key), dict(gateways), keys)
        journal = open_journal(s.home)
        self.clients = [client, *gateways.values()]
        self.service = CustodianService(
            member.member_id, ctx, journal, lambda: get_chain_time_ms(client),
            s.require_local_approval,
        )  # fmt: skip
        return self.service

    def start(self) -> CustodianService:
        """Open the service and run its loop on a daemon thread."""
        service = self.open()
        self.thread = threading.Thread(
            target=run_custodian_loop,
            args=(service, self.health, self.stop_event, self.settings.interval_s),
            name="custodian",
            daemon=True,
        )
        self.thread.start()
        return service

    def stop(self) -> None:
        """Stop the loop, wait for it, close the journal and the connections."""
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
        for c in self.clients:
            c.close()
        if self.service is not None:
            self.service.journal.close()
