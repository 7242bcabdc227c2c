"""Finding the crash's witnesses without tracking everyone.

The crash cars' decrypted V2X logs of the window name the peers they heard by their
pseudonyms (HashedId8s) only. The officer asks each OEM's pseudonym CA, under case 1,
which of its cars held those pseudonyms (``PseudonymResolver``: the CA checks the case
on chain); the witnesses are the cars so named, the crash cars themselves left out.
No other car's pseudonym, position or data is looked at.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from carchain.crypto.signing import SigningKey
from carchain.data.records import Record, V2xLog
from carchain.sim.pseudonym_resolution import PseudonymResolver, ResolutionRequest, sign_request


def collect_peer_ids(records: Iterable[Record], start_ms: int, end_ms: int) -> list[bytes]:
    """Return the sorted unique HashedId8s the records' V2X logs heard in the window."""
    out: set[bytes] = set()
    for r in records:
        t = r.time_ms if isinstance(r, V2xLog) else None
        if isinstance(r, V2xLog) and r.peer and t is not None and start_ms <= t < end_ms:
            out.add(bytes.fromhex(r.peer))
    return sorted(out)


@dataclass
class WitnessSearch:
    """What the search did: the pseudonyms heard, each CA's answers, the witnesses."""

    peer_ids: list[bytes]
    resolved: dict[str, dict[bytes, str]] = field(default_factory=dict)  # by CA (OEM)
    witnesses: list[str] = field(default_factory=list)


def find_witnesses(
    resolvers: Mapping[str, PseudonymResolver],
    case_id: int,
    officer: SigningKey,
    crash_records: Mapping[str, list[Record]],
    window: tuple[int, int],
    now_ms: int,
) -> WitnessSearch:
    """Return the witnesses of the crash: the cars that held the pseudonyms the crash
    cars heard in ``window``, resolved by their CAs under case ``case_id``."""
    peer_ids = sorted(
        {i for recs in crash_records.values() for i in collect_peer_ids(recs, *window)}
    )
    search = WitnessSearch(peer_ids)
    if not peer_ids:
        return search
    request = ResolutionRequest(case_id, peer_ids, now_ms)
    signature = sign_request(request, officer)
    found: set[str] = set()
    for oem, resolver in sorted(resolvers.items()):
        answer = resolver.resolve(request, signature, now_ms)
        search.resolved[oem] = answer
        found.update(answer.values())
    search.witnesses = sorted(found - set(crash_records))
    return search
