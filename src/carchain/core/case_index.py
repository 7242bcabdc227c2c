"""Per-vehicle and per-OEM indexes of lawful-access cases (owned by the SEEN helper).

Placeholder hooks with the interface of issue 10's spec: the cases module calls
them at authorisation and at every share release; the indexing itself lands
with the SEEN branch (whose version of this file replaces this one).
"""

from __future__ import annotations

from carchain.core.case_records import Case, ShareRelease
from carchain.core.state import KVView
from carchain.core.types import BlockContext


def process_authorized(view: KVView, ctx: BlockContext, case: Case) -> None:
    """Index the authorised case under each scope vehicle and its OEM (placeholder)."""


def process_release(view: KVView, ctx: BlockContext, case: Case, release: ShareRelease) -> None:
    """Index a share release under each OEM whose vehicles it touches (placeholder)."""
