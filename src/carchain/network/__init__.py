"""The CometBFT network: localnet layout and processes, CometBFT config, the RPC backend."""
