"""The MCP server: built by ``create_server(settings)``, run by its lifespan.

Nothing happens at import time. The lifespan enters the supervisor's runtime (its Vapi client,
store and background task group) and the notifier's flusher; leaving it shuts both down. Tools,
resources and prompts are registered from their own modules; every one of them reaches the
domain through ``AppState.require()``, a :class:`~vapi_mcp.supervisor.CallSupervisor`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, Resource, Tool

from vapi_mcp import __version__
from vapi_mcp.face.client_log import ClientLog
from vapi_mcp.face.notify import Notifier, ResourceObserver
from vapi_mcp.face.panel import build_panel
from vapi_mcp.face.prompts import register_prompts
from vapi_mcp.face.resources import register_resources
from vapi_mcp.face.schemas import compact_input, compact_output
from vapi_mcp.face.shared_bus import SharedSubscriptionBus
from vapi_mcp.face.state import AppState
from vapi_mcp.face.tools import register_call_tools, register_control_tools, register_fleet_tools
from vapi_mcp.redact import install_redaction
from vapi_mcp.settings import Settings
from vapi_mcp.supervisor import running_supervisor

__all__ = ["VapiMCPServer", "create_server"]

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
Supervise live Vapi phone calls. Start with list_calls or create_call / attach_call, then steer the call with
say, add_message, control_call, transfer_call, handoff_call and end_call. Every call has an event log
(get_call_events, or the vapi://calls/{call_id}/events resource) that records status changes and every control
message sent. Destructive tools (end_call, transfer_call, handoff_call) act on a real person's phone call:
be sure before using them."""


class VapiMCPServer(MCPServer[AppState]):
    """``resources/list`` also shows one entry per supervised call; a bad prompt request is -32602."""

    state: AppState

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None, context: Any = None) -> Any:
        # The SDK reports an unknown prompt or a missing argument as an internal error (-32603, or 0 on
        # the handshake era) and logs a traceback; the spec wants invalid params.
        if self._prompt_manager.get_prompt(name) is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {name}")
        try:
            return await super().get_prompt(name, arguments, context)
        except ValueError as exc:
            raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None

    async def list_tools(self) -> list[Tool]:
        # The tool list as an agent can afford it (DESIGN §11 token budget; see face/schemas.py).
        return [
            tool.model_copy(
                update={
                    "title": None,
                    "description": " ".join((tool.description or "").split()),
                    "input_schema": compact_input(tool.input_schema),
                    "output_schema": compact_output(tool.output_schema) if tool.output_schema else None,
                }
            )
            for tool in await super().list_tools()
        ]

    async def list_resources(self) -> list[Resource]:
        resources = await super().list_resources()
        supervisor = self.state.supervisor
        if supervisor is None:
            return resources
        for info in supervisor.supervised_calls():
            resources.append(
                Resource(
                    uri=f"vapi://calls/{info.call_id}",
                    name=f"call-{info.call_id}",
                    title=f"Call {info.call_id} ({info.status})",
                    description="One supervised call: status, listen state, event count, resource URIs.",
                    mime_type="application/json",
                )
            )
        return resources


def create_server(settings: Settings) -> VapiMCPServer:
    """Build the MCP server. Nothing touches the network until the lifespan starts."""
    # Replicas (DESIGN §13): notifications of both eras cross replicas on Redis pub/sub.
    shared_bus = SharedSubscriptionBus() if settings.redis_url is not None else None
    notifier = Notifier(bus=shared_bus)
    state = AppState(settings=settings, notifier=notifier)
    client_log = ClientLog()

    @asynccontextmanager
    async def lifespan(server: MCPServer[AppState]) -> AsyncGenerator[AppState]:
        async with running_supervisor(settings, ResourceObserver(notifier)) as supervisor:
            state.supervisor = supervisor
            if shared_bus is not None and supervisor.replicas is not None:
                shared_bus.attach(supervisor.replicas.relay)
            try:
                async with notifier.running(), client_log.attached():
                    yield state
            finally:
                state.supervisor = None
                if shared_bus is not None:
                    shared_bus.detach()

    server = VapiMCPServer(
        "vapi-mcp",
        title="Vapi call supervisor",
        description="Supervise live Vapi phone calls: control tools, live events and audio summaries.",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        subscriptions=notifier.bus,
        extensions=[build_panel(state, read_only=settings.read_only)],  # the live call panel (MCP Apps)
    )
    server.state = state
    install_redaction(settings.secrets())
    notifier.install(server)
    client_log.install(server)
    register_call_tools(server, state)
    if not settings.read_only:
        register_control_tools(server, state)
    register_fleet_tools(server, state)
    register_resources(server, state)
    register_prompts(server)
    return server
