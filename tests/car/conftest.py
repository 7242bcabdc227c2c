"""The car agent tests' fixtures: the data plane's live world (node + SAIC gateway)."""

from tests.dataplane import world

__all__ = ["world"]
