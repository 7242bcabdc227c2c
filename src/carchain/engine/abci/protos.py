"""Lazy access to the ABCI protobuf modules generated at setup.

The modules are generated (``scripts/setup_network.py``) from the ``.proto``
files of the pinned CometBFT version into the git-ignored ``generated/``
folder; nothing of CometBFT is committed. They are untyped, so they are loaded
through importlib and handed out as ``Any``: mypy --strict stays clean and the
embedded node never needs them.
"""

from __future__ import annotations

import importlib
import os
import sys
from functools import cache
from pathlib import Path
from typing import Any

from carchain.errors import ProtosMissing

PROTO_DIR_ENV = "CARCHAIN_PROTO_DIR"
PINNED_COMETBFT = "v0.38.26"


def get_generated_dir() -> Path:
    """Return the generated modules' folder: ``$CARCHAIN_PROTO_DIR`` or ``generated/``."""
    env = os.environ.get(PROTO_DIR_ENV)
    if env:
        return Path(env)
    # src/carchain/engine/abci/protos.py -> repository root
    return Path(__file__).resolve().parents[4] / "generated"


@cache
def load_module(name: str) -> Any:
    """Import one generated module, e.g. ``tendermint.abci.types_pb2``."""
    folder = get_generated_dir()
    stamp = folder / "COMETBFT_VERSION"
    if not stamp.exists():
        raise ProtosMissing(
            "ABCI protobuf modules are not generated; run `make setup-network`",
            folder=str(folder),
        )
    if stamp.read_text().strip() != PINNED_COMETBFT:
        raise ProtosMissing("generated protobuf modules are for another CometBFT version")
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    return importlib.import_module(name)


def get_abci() -> Any:
    """Return ``tendermint.abci.types_pb2``."""
    return load_module("tendermint.abci.types_pb2")


def get_crypto_keys() -> Any:
    """Return ``tendermint.crypto.keys_pb2``."""
    return load_module("tendermint.crypto.keys_pb2")


def get_crypto_proof() -> Any:
    """Return ``tendermint.crypto.proof_pb2``."""
    return load_module("tendermint.crypto.proof_pb2")


def get_types() -> Any:
    """Return ``tendermint.types.types_pb2``."""
    return load_module("tendermint.types.types_pb2")


def get_canonical() -> Any:
    """Return ``tendermint.types.canonical_pb2``."""
    return load_module("tendermint.types.canonical_pb2")
