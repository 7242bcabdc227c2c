"""carchain: a consortium blockchain for connected-car data exchange."""

__version__ = "0.1.0"
