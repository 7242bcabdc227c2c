"""The custodian service: one escrow custodian's work, a loop over the chain's cases.

Each round (``CustodianService.step``) takes up the cases opened since the
cursor (``journal``), then works every case still open in the journal, oldest
first: it reads the case as committed and releases this custodian's shares only
when its own checks (``checks``) pass — authorised, unexpired, at quorum of
committee(epoch), in scope, a seat of its own, approved by itself, and (under
``--require-local-approval``) approved by a human through
``carchain custodian approve``. Rejected, closed and expired cases end; a case it
holds no seat for is left. It never posts ``case.approve`` or ``case.decline``:
those are a person's decisions, made with ``carchain case approve|decline``.

A node or gateway that does not answer stops the round (the loop backs off); any
other error is recorded on its case, which is tried again next round, and the
loop goes on (``run_custodian_loop``, like the gateway's loops).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from carchain.core.case_records import Case, EscrowCommittee
from carchain.core.members import MemberStatus, get_member_optional
from carchain.core.state import KVView
from carchain.custodian.checks import (
    ChainFacts,
    compute_case_verdict,
    is_independent_court,
    scan_shares,
)
from carchain.custodian.journal import (
    DONE,
    ENDED,
    NOT_CUSTODIAN,
    WAITING,
    WATCHING,
    CaseTask,
    CustodianJournal,
)
from carchain.custodian.release import ReleaseContext, compute_items, post_items
from carchain.errors import CarchainError, InvalidNonce, TransportError
from carchain.gateway.custody import run_step_loop
from carchain.sdk import cases
from carchain.sdk.client import Client

log = logging.getLogger("carchain.custodian")
TASKS_PER_STEP = 50


def get_chain_time_ms(client: Client) -> int:
    """Return the later of the local clock and the latest block's time (the custodian
    counts a case expired as soon as either says so)."""
    status = client.status()
    block_ms = status.get("latest_block_time_ms")
    block_ms = block_ms if isinstance(block_ms, int) and not isinstance(block_ms, bool) else 0
    return max(int(time.time() * 1000), block_ms)


def compute_chain_facts(view: KVView, case_id: int) -> ChainFacts:
    """Return the chain reads of a scan over ``view``, cached for one case's scan."""
    from carchain.core.escrow_committee import get_committee_for_epoch
    from carchain.core.vehicles import get_vehicle

    committees: dict[int, EscrowCommittee | None] = {}
    oems: dict[str, str] = {}
    active: dict[str, bool] = {}

    def committee_for_epoch(epoch: int) -> EscrowCommittee | None:
        if epoch not in committees:
            committees[epoch] = get_committee_for_epoch(view, epoch)
        return committees[epoch]

    def oem_of(vehicle_id: str) -> str:
        if vehicle_id not in oems:
            oems[vehicle_id] = get_vehicle(view, vehicle_id).oem
        return oems[vehicle_id]

    def is_active(member_id: str) -> bool:
        if member_id not in active:
            m = get_member_optional(view, member_id)
            active[member_id] = (
                m is not None
                and m.status == MemberStatus.ACTIVE
                and "law_enforcement" not in m.roles
            )
        return active[member_id]

    released: set[tuple[str, int, str, int]] | None = None

    def is_released(vehicle_id: str, epoch: int, category: str, index: int) -> bool:
        # The case's releases name every share released (one read per release, not per key).
        nonlocal released
        if released is None:
            released = {
                (i.vehicle_id, i.epoch, i.category, i.index)
                for r in cases.get_releases(view, case_id)
                for i in r.items
            }
        return (vehicle_id, epoch, category, index) in released

    return ChainFacts(committee_for_epoch, oem_of, is_active, is_released)


@dataclass
class CaseOutcome:
    """What one round did for a case."""

    state: str
    detail: str
    released: int = 0


class CustodianService:
    """One custodian member's release work over its journal, the node and the gateways."""

    def __init__(
        self,
        member_id: str,
        ctx: ReleaseContext,
        journal: CustodianJournal,
        clock: Callable[[], int],
        require_local_approval: bool = False,
    ) -> None:
        self.member_id = member_id
        self.ctx = ctx
        self.journal = journal
        self.clock = clock  # ms: the later of wall clock and block time (get_chain_time_ms)
        self.require_local_approval = require_local_approval

    def get_roles(self, member_id: str) -> list[str]:
        """Return a member's roles on chain (none for an unknown member)."""
        member = get_member_optional(self.ctx.view, member_id)
        return [] if member is None else list(member.roles)

    def is_active(self, member_id: str) -> bool:
        """Return whether a member is active on chain (an unknown member is not)."""
        member = get_member_optional(self.ctx.view, member_id)
        return member is not None and member.status == MemberStatus.ACTIVE

    def process_new_cases(self) -> int:
        """Take up the cases opened since the cursor; return how many."""
        count = cases.get_case_count(self.ctx.view)
        cursor = self.journal.get_cursor()
        if count > cursor:
            self.journal.add_cases_and_advance(count)
        return max(0, count - cursor)

    def process_case(self, case: Case, now_ms: int) -> CaseOutcome:
        """Release this custodian's shares of a case if every check passes."""
        verdict = compute_case_verdict(case, now_ms, self.member_id)
        if verdict is not None:
            return CaseOutcome(*verdict)
        if not is_independent_court(case, self.get_roles):
            return CaseOutcome(ENDED, "not authorised by an independent court")
        if not all(self.is_active(m) for m in (case.authority, case.court)):
            return CaseOutcome(WATCHING, "a party of the case is not an active member")
        scan = scan_shares(case, self.member_id, compute_chain_facts(self.ctx.view, case.case_id))
        if scan.seats == 0:
            return CaseOutcome(NOT_CUSTODIAN, "no seat for any key in scope")
        if not scan.wanted:
            if scan.below_quorum:
                return CaseOutcome(WATCHING, f"below quorum for {scan.below_quorum} keys")
            return CaseOutcome(DONE, f"{scan.released} shares released")
        if self.require_local_approval and not self.journal.is_locally_approved(case.case_id):
            return CaseOutcome(WAITING, f"{len(scan.wanted)} shares wait for local approval")
        failures: list[str] = []
        items = compute_items(self.ctx, case, scan.wanted, failures)
        posted = post_items(self.ctx, case.case_id, items)
        rest = len(scan.wanted) - posted
        detail = f"released {posted} shares" + (f", {rest} have no stored data yet" if rest else "")
        if failures:  # the first failure's code (the others are logged)
            detail = f"error: {failures[0]}" if not posted else f"{detail}; error: {failures[0]}"
        return CaseOutcome(WATCHING, detail, posted)

    def process_task(self, task: CaseTask, now_ms: int) -> int:
        """Work one case and record its new state; return how many shares it released."""
        outcome = self.process_case(cases.get_case(self.ctx.view, task.case_id), now_ms)
        if (outcome.state, outcome.detail, outcome.released) != (task.state, task.detail, 0):
            log.info("custodian case %d: %s (%s)", task.case_id, outcome.state, outcome.detail)
            self.journal.set_task_state(
                task.case_id, outcome.state, outcome.detail, outcome.released
            )
        return outcome.released

    def step(self) -> bool:
        """Take up new cases and work the open ones; return whether any share was released
        or case taken up (the loop then goes on without waiting)."""
        busy = self.process_new_cases() > 0
        now_ms = self.clock()
        for task in self.journal.get_open_tasks(TASKS_PER_STEP):
            try:
                busy = self.process_task(task, now_ms) > 0 or busy
            except (TransportError, InvalidNonce):
                raise
            except CarchainError as exc:
                log.warning("custodian case %d failed: %s", task.case_id, exc.code)
                self.journal.set_task_state(task.case_id, task.state, f"error: {exc.code}")
            except Exception as exc:  # a bug on one case's data must not stop the service
                name = type(exc).__name__  # the class only: a message may quote data
                log.error("custodian case %d failed unexpectedly: %s", task.case_id, name)
                self.journal.set_task_state(task.case_id, task.state, f"error: {name}")
        return busy

    def to_dict(self) -> dict[str, object]:
        """Return the status fields of the service (flat)."""
        counts = self.journal.count_by_state()
        return {
            "member_id": self.member_id,
            "cursor": self.journal.get_cursor(),
            "require_local_approval": self.require_local_approval,
            **{f"cases_{k}": v for k, v in sorted(counts.items())},
        }


def run_custodian_loop(
    service: CustodianService, health: Any, stop: threading.Event, interval_s: float
) -> None:
    """Run ``service.step`` until ``stop`` is set, backing off on failures (``health`` is
    an ``AnchoringHealth``-like recorder)."""
    run_step_loop(service.step, "custodian", health, stop, interval_s)
