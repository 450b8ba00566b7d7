"""The MCP tools: ``calls`` watch calls, ``control`` changes them (absent in read-only mode), ``fleet`` sets alerts."""

from __future__ import annotations

from vapi_mcp.face.tools.calls import register_call_tools
from vapi_mcp.face.tools.control import register_control_tools
from vapi_mcp.face.tools.fleet import register_fleet_tools

__all__ = ["register_call_tools", "register_control_tools", "register_fleet_tools"]
