"""The gateway's view of committed chain state (the SDK's ``ChainView``)."""

from __future__ import annotations

from carchain.sdk.chainview import ChainView

__all__ = ["ChainView"]
