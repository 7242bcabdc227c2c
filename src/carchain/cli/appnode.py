"""Entry point of a network node's application process: ABCI server and node API.

Run as ``python -m carchain.cli.appnode --home NODE/app [--abci ADDRESS]
[--state-versions N]`` (the localnet launcher does). The wiring lives here, at
the top: the node API (``api/``) is built here and handed to the network layer.
"""

from __future__ import annotations

import sys

from carchain.api.app import create_app
from carchain.network import appnode


def main(argv: list[str] | None = None) -> int:
    """Run the application process; return its exit status."""
    return appnode.main(create_app, argv)


if __name__ == "__main__":
    sys.exit(main())
