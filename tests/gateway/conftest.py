"""The gateway tests' fixtures: an ingestor rig and the data plane's live world."""

from tests.dataplane import rig, world

__all__ = ["rig", "world"]
