"""Tools for a fleet of calls: the alert rules (the inbox is read by get_call_events / wait_for_event)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from pydantic import Field

from vapi_mcp.face.errors import tool
from vapi_mcp.face.state import AppState
from vapi_mcp.face.tools.args import LOCAL_WRITE, RULES_HELP, CallId
from vapi_mcp.supervisor.views import AlertRulesView

__all__ = ["register_fleet_tools"]


def register_fleet_tools(server: MCPServer[Any], state: AppState) -> None:
    @tool(server, title="Set alert rules", annotations=LOCAL_WRITE)
    async def set_alert_rules(
        rules: Annotated[dict[str, Any], Field(description=RULES_HELP)],
        call_id: CallId | None = None,
    ) -> AlertRulesView:
        """Change a call's alert rules live, or without call_id the defaults for new calls.
        Returns every rule's parameters.
        """
        return state.require().set_alert_rules(rules, call_id)
