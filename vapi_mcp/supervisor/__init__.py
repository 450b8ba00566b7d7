"""The domain: :class:`CallSupervisor` owns supervised calls, policy and listening; knows nothing of MCP."""

from __future__ import annotations

from vapi_mcp.supervisor.core import CallSupervisor, SupervisedCall

__all__ = ["CallSupervisor", "SupervisedCall"]
