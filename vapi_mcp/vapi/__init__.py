"""The Vapi wire: pydantic models of what goes over it, and the client that sends it.

Nothing here imports ``mcp``; the supervisor and the emulator's tests use it directly.
"""

from __future__ import annotations

from vapi_mcp.vapi import client as _client
from vapi_mcp.vapi import models as _models
from vapi_mcp.vapi.client import *  # noqa: F403 - the public surface is the two modules' __all__
from vapi_mcp.vapi.models import *  # noqa: F403

# pyright cannot follow a computed __all__; it is the two modules' own lists, so it cannot drift from them.
__all__ = [*_client.__all__, *_models.__all__]  # pyright: ignore[reportUnsupportedDunderAll]
