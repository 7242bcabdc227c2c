"""What a transaction produces besides state writes: events and validator changes."""

from __future__ import annotations

from carchain.core.types import Event, ValidatorUpdate


class Effects:
    """Collects the events and validator updates of one transaction."""

    __slots__ = ("events", "validator_updates")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.validator_updates: list[ValidatorUpdate] = []

    def emit(self, event_type: str, **attributes: str) -> None:
        """Record an event with string attributes."""
        self.events.append(Event(event_type, attributes))
