"""Event ids: the position ``H:I:E`` (height, transaction index, event index) of an
event of a committed block. Positions are totally ordered, so "after ``H:I:E``"
names a resume point of the event stream; node and SDK parse ids the same way."""

from __future__ import annotations

import re
from dataclasses import dataclass

from carchain.errors import InvalidEventCursor

MAX_POSITION = 2**63 - 1
_POSITION_RE = re.compile(r"^([0-9]{1,19}):([0-9]{1,19}):([0-9]{1,19})$")


@dataclass(frozen=True, slots=True, order=True)
class EventPosition:
    """Where an event is: block height, transaction index, event index (ordered)."""

    height: int
    tx_index: int
    event_index: int

    def to_id(self) -> str:
        """Return the event id ``H:I:E``."""
        return f"{self.height}:{self.tx_index}:{self.event_index}"


def parse_event_id(text: str) -> EventPosition:
    """Return the position an event id ``H:I:E`` names; ``InvalidEventCursor`` otherwise."""
    match = _POSITION_RE.fullmatch(text.strip())
    if match is None:
        raise InvalidEventCursor("event id must be H:I:E (three decimal integers)", value=text[:80])
    height, tx_index, event_index = (int(g) for g in match.groups())
    if max(height, tx_index, event_index) > MAX_POSITION:
        raise InvalidEventCursor("event id is out of range", value=text[:80])
    return EventPosition(height, tx_index, event_index)
