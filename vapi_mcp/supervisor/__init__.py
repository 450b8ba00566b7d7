"""The domain: :class:`CallSupervisor` owns supervised calls, policy and listening; knows nothing of MCP.

The MCP face imports what it needs from here only: the supervisor, its views (what tools return),
the observer it implements, and the argument vocabularies of the control tools.
"""

from __future__ import annotations

from vapi_mcp.supervisor.control import ContextMode
from vapi_mcp.supervisor.core import CallSupervisor
from vapi_mcp.supervisor.observer import Aspect, CallObserver
from vapi_mcp.supervisor.runtime import running_supervisor
from vapi_mcp.vapi.models import ControlAction, TransferMode

__all__ = [
    "Aspect",
    "CallObserver",
    "CallSupervisor",
    "ContextMode",
    "ControlAction",
    "TransferMode",
    "running_supervisor",
]
