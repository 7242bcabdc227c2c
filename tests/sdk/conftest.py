"""The record-proof tests' fixtures: the data plane's live world and its proof bundle."""

from tests.dataplane import proven, world

__all__ = ["proven", "world"]
