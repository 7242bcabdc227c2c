"""Simulation and the demo: a consortium, a fleet, an embedded node."""
