"""Access to the node backend from routes."""

from __future__ import annotations

from typing import cast

from fastapi import Request

from carchain.node.backend import NodeBackend


def get_backend(request: Request) -> NodeBackend:
    """Return the backend the app was created with."""
    return cast(NodeBackend, request.app.state.backend)
