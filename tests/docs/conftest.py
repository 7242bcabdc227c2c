"""The data plane's live world and proof bundle, reused for the independent verifier."""

from tests.dataplane import proven, world

__all__ = ["proven", "world"]
