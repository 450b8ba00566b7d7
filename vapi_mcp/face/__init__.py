"""The MCP face: the only package that imports ``mcp``.

An MCP request enters here (``app`` builds the server, ``tools``/``resources`` register what clients
call and read, ``notify`` tells subscribers what changed, ``http`` serves the streamable HTTP
transport) and leaves through one :class:`~vapi_mcp.supervisor.CallSupervisor` method call.
"""

from __future__ import annotations

from vapi_mcp.face.app import create_server

__all__ = ["create_server"]
