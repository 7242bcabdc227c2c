"""Errors of the event stream (``GET /events``): bad filters, bad cursors, a full house."""

from carchain.errors.base import CarchainError


class EventStreamError(CarchainError, abstract=True):
    """A subscription to the event stream cannot be served (group, not raised)."""


class InvalidEventFilter(EventStreamError):
    """A filter of ``GET /events`` is malformed (an event type, vehicle or member id,
    a height): the stream never starts."""

    code = "invalid_event_filter"
    abci_code = 285
    http_status = 400
    name: str | None
    value: str | None
    limit: int | None


class InvalidEventCursor(EventStreamError):
    """A resume point (``Last-Event-ID``) is not an event id ``H:I:E``."""

    code = "invalid_event_cursor"
    abci_code = 286
    http_status = 400
    value: str | None


class TooManySubscribers(EventStreamError):
    """The node already serves as many event streams as it allows; retry later."""

    code = "too_many_subscribers"
    abci_code = 287
    http_status = 503
    limit: int | None
