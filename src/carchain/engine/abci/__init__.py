"""The ABCI socket server: the same ``Application`` behind CometBFT v0.38.

Import nothing from here in the embedded path: the protobuf modules it needs
are generated at setup (``scripts/setup_network.py``) and loaded lazily.
"""
