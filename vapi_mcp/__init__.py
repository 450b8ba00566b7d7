"""vapi-mcp: an MCP server that lets LLM agents supervise live Vapi phone calls."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
