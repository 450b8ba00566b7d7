"""Tools that watch calls: attach, read state, list, listen, events, audio summary, wait.

Each one is a single supervisor call; the docstrings are what the agent reads to choose a tool.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field

from vapi_mcp.face.errors import tool
from vapi_mcp.face.state import AppState
from vapi_mcp.face.tools.args import LOCAL_READ, READ, AlertRulesArg, CallId
from vapi_mcp.supervisor.views import (
    AudioSummary,
    CallInfo,
    CallList,
    EventsPage,
    ListenResult,
    WaitResult,
)

__all__ = ["register_call_tools"]


def register_call_tools(server: MCPServer[Any], state: AppState) -> None:
    @tool(server, title="Attach to a call", annotations=READ)
    async def attach_call(call_id: CallId, listen: bool = True, alert_rules: AlertRulesArg = None) -> CallInfo:
        """Supervise a call started elsewhere (e.g. inbound) and listen to it. Returns its state, like get_call."""
        return await state.require().attach_call(call_id, listen=listen, alert_rules=alert_rules)

    @tool(server, title="Get a call", annotations=READ)
    async def get_call(call_id: CallId) -> CallInfo:
        """A call's state: status, endedReason, times, customer, listen state, event count, resource links."""
        return await state.require().get_call(call_id)

    @tool(server, title="List calls", annotations=READ)
    async def list_calls(
        limit: Annotated[int, Field(ge=1, le=100, description="How many calls, newest first.")] = 20,
        status: Annotated[
            Literal["scheduled", "queued", "ringing", "in-progress", "forwarding", "ended"] | None,
            Field(description="Only calls with this status."),
        ] = None,
    ) -> CallList:
        """Recent calls from Vapi, newest first, merged with the ones supervised here."""
        return CallList(calls=await state.require().list_calls(limit=limit, status=status))

    @tool(server, title="Read a call's events", annotations=LOCAL_READ)
    async def get_call_events(
        call_id: CallId | None = None,
        after_seq: Annotated[int, Field(ge=0)] = 0,
        limit: Annotated[int, Field(ge=1, le=500)] = 100,
        types: Annotated[list[str] | None, Field(max_length=20, description="Only these event types.")] = None,
    ) -> EventsPage:
        """Page a call's events, or without call_id the fleet inbox (alerts, calls added and ended).
        Pass next_seq back as after_seq.
        """
        return state.require().events(call_id, after_seq=after_seq, limit=limit, types=types)

    @tool(server, title="Start listening", annotations=READ)
    async def start_listening(call_id: CallId) -> ListenResult:
        """Listen in the background (returns at once): speech, silences, overlaps and transcripts
        become events and an audio summary.
        """
        return await state.require().start_listening(call_id)

    @tool(server, title="Stop listening", annotations=READ)
    async def stop_listening(call_id: CallId) -> ListenResult:
        """Stop listening (returns at once); what was heard stays readable."""
        return state.require().stop_listening(call_id)

    @tool(server, title="Audio summary", annotations=LOCAL_READ)
    async def get_audio_summary(call_id: CallId) -> AudioSummary:
        """Per party: talk time and ratio, turns, levels, clipping; overlap, silences, interruptions, sparklines."""
        return await state.require().audio_summary(call_id)

    @tool(server, title="Wait for an event", annotations=LOCAL_READ)
    async def wait_for_event(
        ctx: Context,
        call_id: CallId | None = None,
        types: Annotated[list[str] | None, Field(max_length=20, description="Only these event types.")] = None,
        after_seq: Annotated[int | None, Field(ge=0, description="Default: only new events.")] = None,
        timeout_s: Annotated[float, Field(gt=0, le=50)] = 20,
    ) -> WaitResult:
        """Block until the call, or without call_id the fleet inbox, logs a matching event or
        the timeout passes. Returns the events and next_seq.
        """

        async def progress(waited: float, total: float) -> None:
            await ctx.report_progress(waited, total, f"waiting for events on {call_id or 'the inbox'}")

        return await state.require().wait_for_event(
            call_id, types=types, after_seq=after_seq, timeout_s=timeout_s, progress=progress
        )
