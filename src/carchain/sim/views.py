"""Everyone's view at the end of the story, read from the chain and the gateways.

After the investigation, simulated time passes the court's notification delay, and
each party looks with its own tools (the SDK code the CLI uses, every figure proven
or counted from the blocks):

1. the owners: each scoped car's access log, exported and verified by its owner, with
   the case's entries; and one car outside every scope, with none (``owner_logs``);
2. the insurer: consent-based access to a crash car's EDR, and a refused request for a
   car whose owner never consented (``insurer_view``);
3. the automakers: each OEM's signed statement of the disclosures of its vehicles'
   data "and no others", verified offline (``oem_statements``);
4. the public: the quarter's transparency report, every counter proven;
5. the chain's figures: blocks, transactions, bytes on and off chain, anchors
   (``chain_figures``).

``print_everyones_view`` (``views_print``) shows them as tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from carchain.core.cases import get_case
from carchain.core.transparency import compute_quarter
from carchain.sdk.chainview import ChainView
from carchain.sdk.transparency import VerifiedReport, fetch_report
from carchain.sim.chain_figures import ChainFigures, compute_chain_figures
from carchain.sim.insurer_view import InsurerAccess, process_insurer_access
from carchain.sim.oem_statements import OemStatements, build_all_oem_statements
from carchain.sim.owner_logs import (
    OwnerLog,
    fetch_owner_logs,
    get_block_time_ms,
    get_scoped_vehicles,
    process_notice_delay,
)
from carchain.sim.story_world import StoryWorld
from carchain.sim.views_print import print_everyones_view

__all__ = ["EveryonesView", "compute_everyones_view", "print_everyones_view"]


@dataclass(frozen=True, slots=True)
class EveryonesView:
    """What each party sees at the end of the story."""

    case_ids: list[int]
    clock_shift_ms: int  # how far simulated time moved to pass the notice delay
    owner_logs: list[OwnerLog]
    insurer: InsurerAccess
    statements: list[OemStatements]
    transparency: list[VerifiedReport]  # one per quarter the cases touched
    figures: ChainFigures


def fetch_transparency(sw: StoryWorld, case_ids: list[int]) -> list[VerifiedReport]:
    """Return the proven quarter reports of every quarter a case opened in, and of now."""
    view = ChainView(sw.client)
    times = [get_case(view, c).opened_ms for c in case_ids] + [get_block_time_ms(sw.client)]
    return [fetch_report(sw.client, q) for q in sorted({compute_quarter(t) for t in times})]


def compute_everyones_view(
    sw: StoryWorld, case_ids: list[int], notice_delay_ms: int
) -> EveryonesView:
    """Let the cases' notice delay pass (at least ``notice_delay_ms`` of block time), then
    read every party's view from the chain and the gateways."""
    with sw.phases.phase("everyone's view", 5) as advance:
        shift = process_notice_delay(sw, case_ids, notice_delay_ms) if case_ids else 0
        logs = fetch_owner_logs(sw, case_ids)
        advance(1)
        insurer = process_insurer_access(sw, set(get_scoped_vehicles(sw.client, case_ids)))
        advance(1)
        statements = build_all_oem_statements(sw)
        advance(1)
        reports = fetch_transparency(sw, case_ids)
        advance(1)
        figures = compute_chain_figures(sw)
        advance(1)
    return EveryonesView(list(case_ids), shift, logs, insurer, statements, reports, figures)
