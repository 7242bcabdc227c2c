"""Delayed notice of lawful-access cases to vehicle owners (owned by the SEEN helper).

Placeholder hooks with the interface of issue 10's spec: the cases module calls
``process_schedule`` after authorisation and every extension, ``process_release``
after every share release; ``core.block`` calls ``process_due_notices`` at the end
of every block. The SEEN branch's version of this file replaces this one.
"""

from __future__ import annotations

from carchain.core.case_records import Case, ShareRelease
from carchain.core.state import KVView
from carchain.core.types import BlockContext


def process_schedule(view: KVView, case: Case) -> None:
    """Queue the case's notice for its due time (placeholder)."""


def process_release(view: KVView, ctx: BlockContext, case: Case, release: ShareRelease) -> None:
    """Log a release to the owners of a case already noticed (placeholder)."""


def process_due_notices(view: KVView, ctx: BlockContext) -> None:
    """Append the notices that fell due to the vehicles' logs (placeholder)."""
