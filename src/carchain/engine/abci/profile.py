"""Where the application process's CPU goes, per ABCI phase (opt-in, for benchmarks).

With ``CARCHAIN_ABCI_PROFILE=<path>`` set, the application process's ABCI server
times, in CPU seconds of its thread, the decoding of each request, its handling
(by phase: new CheckTx, recheck, PrepareProposal, ProcessProposal, FinalizeBlock,
Commit, the rest) and the encoding of its response, and the time Python's cyclic
garbage collector ran (``watch_gc``: it runs inside the phases, so it is part of
theirs too), and writes the totals with the process's CPU time as JSON to
``<path>`` when it stops. Without it the server's clock is a constant and
nothing is recorded.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROFILE_ENV = "CARCHAIN_ABCI_PROFILE"
# Handling phases, named after the request (a CheckTx is ``check_tx`` or ``recheck``).
HANDLING_PHASES = (
    "check_tx",
    "recheck",
    "prepare_proposal",
    "process_proposal",
    "finalize_block",
    "commit",
    "query",
    "other_requests",
)
CODEC_PHASES = ("decode", "encode")
PHASES = HANDLING_PHASES + CODEC_PHASES
RECHECK_TYPE = 1  # tendermint.abci.CheckTxType.RECHECK


def no_clock() -> float:
    """Return 0.0: the server's clock when nothing is profiled."""
    return 0.0


def get_phase(kind: str, request: Any) -> str:
    """Return the handling phase of a request whose oneof field is ``kind``."""
    if kind == "check_tx":
        return "recheck" if int(request.check_tx.type) == RECHECK_TYPE else "check_tx"
    return kind if kind in HANDLING_PHASES else "other_requests"


def count_txs(kind: str, request: Any) -> int:
    """Return how many transactions a block request carries (0 for other requests)."""
    if kind in ("prepare_proposal", "process_proposal", "finalize_block"):
        return len(getattr(request, kind).txs)
    return 0


class PhaseProfile:
    """CPU seconds and request counts per phase, and the process's CPU since creation."""

    def __init__(self, clock: Callable[[], float] = time.thread_time) -> None:
        self.clock = clock
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.requests = dict.fromkeys(PHASES, 0)
        self.txs = dict.fromkeys(HANDLING_PHASES, 0)
        self._process_start = time.process_time()
        self.gc_seconds = 0.0
        self.gc_runs = 0
        self._gc_started = 0.0

    def watch_gc(self) -> None:
        """Time every run of the cyclic garbage collector from now on (``unwatch_gc`` stops)."""
        gc.callbacks.append(self._on_gc)

    def unwatch_gc(self) -> None:
        """Stop timing the garbage collector."""
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = self.clock()
        else:
            self.gc_seconds += self.clock() - self._gc_started
            self.gc_runs += 1

    def record(
        self, kind: str, request: Any, decode_s: float, handle_s: float, encode_s: float
    ) -> None:
        """Add one request's decoding, handling and encoding times."""
        phase = get_phase(kind, request)
        self.seconds[phase] += handle_s
        self.requests[phase] += 1
        self.txs[phase] += count_txs(kind, request)
        for name, s in (("decode", decode_s), ("encode", encode_s)):
            self.seconds[name] += s
            self.requests[name] += 1

    def to_json(self) -> dict[str, Any]:
        """Return the totals: per phase seconds, requests and block transactions; the
        garbage collector's seconds and runs; and the process's CPU seconds (every
        thread) since the profile began."""
        return {
            "process_cpu_s": time.process_time() - self._process_start,
            "gc": {"cpu_s": self.gc_seconds, "runs": self.gc_runs},
            "phases": {
                p: {
                    "cpu_s": self.seconds[p],
                    "requests": self.requests[p],
                    "txs": self.txs.get(p, 0),
                }
                for p in PHASES
            },
        }

    def save(self, path: Path) -> None:
        """Write the totals to ``path`` as JSON."""
        path.write_text(json.dumps(self.to_json(), indent=2))
