"""The MCP tools: ``calls`` watch calls, ``control`` changes them (absent in read-only mode)."""

from __future__ import annotations

from vapi_mcp.face.tools.calls import register_call_tools
from vapi_mcp.face.tools.control import register_control_tools

__all__ = ["register_call_tools", "register_control_tools"]
