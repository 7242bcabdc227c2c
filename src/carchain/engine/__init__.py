"""Consensus engines driving the application: solo (embedded) and CometBFT (ABCI)."""
