"""The gateway tests' fixtures: an ingestor rig, the data plane's live world and the
lawful-access gateway over an in-memory chain (its modules import the lawful genesis)."""

from tests.dataplane import rig, world
from tests.gateway.case_world import case_gateway

__all__ = ["case_gateway", "rig", "world"]
