"""Public transparency counts of lawful-access cases (owned by the SEEN helper).

Placeholder hook with the interface of issue 10's spec: the cases module calls
``process_transition`` after every change of a case. The SEEN branch's version
of this file replaces this one.
"""

from __future__ import annotations

from carchain.core.case_records import Case
from carchain.core.state import KVView
from carchain.core.types import BlockContext


def process_transition(view: KVView, ctx: BlockContext, before: Case | None, after: Case) -> None:
    """Count a case's change in the transparency statistics (placeholder)."""
