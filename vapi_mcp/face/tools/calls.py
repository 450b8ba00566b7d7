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
        """Supervise a call started elsewhere (e.g. an inbound call): fetch it from Vapi and start its event log.

        Use this before reading events of a call this server did not create.
        """
        return await state.require().attach_call(call_id, listen=listen, alert_rules=alert_rules)

    @tool(server, title="Get a call", annotations=READ)
    async def get_call(call_id: CallId) -> CallInfo:
        """Current status, endedReason, timing, customer, listen state and event count of one call."""
        return await state.require().get_call(call_id)

    @tool(server, title="List calls", annotations=READ)
    async def list_calls(
        limit: Annotated[int, Field(ge=1, le=100, description="How many calls, newest first.")] = 20,
        status: Annotated[
            Literal["scheduled", "queued", "ringing", "in-progress", "forwarding", "ended"] | None,
            Field(description="Only calls with this status."),
        ] = None,
    ) -> CallList:
        """Recent calls from Vapi, newest first, merged with what this server supervises."""
        return CallList(calls=await state.require().list_calls(limit=limit, status=status))

    @tool(server, title="Read a call's events", annotations=LOCAL_READ)
    async def get_call_events(
        call_id: Annotated[CallId | None, Field(description="Omit to read the fleet inbox.")] = None,
        after_seq: Annotated[int, Field(ge=0, description="Only events with seq greater than this.")] = 0,
        limit: Annotated[int, Field(ge=1, le=500)] = 100,
        types: Annotated[list[str] | None, Field(max_length=20, description="Only these event types.")] = None,
    ) -> EventsPage:
        """Read a supervised call's event log in order (twin of the vapi://calls/{call_id}/events resource).

        Pass the returned next_seq as after_seq to read only what is new.
        """
        return state.require().events(call_id, after_seq=after_seq, limit=limit, types=types)

    @tool(server, title="Start listening", annotations=READ)
    async def start_listening(call_id: CallId) -> ListenResult:
        """Open the call's live audio stream in the background (returns at once).

        While listening, the server logs who speaks when, silences, talk-over and transcripts as events, keeps an
        audio summary, and records the call. Use wait_for_event or get_call_events to follow it.
        """
        return await state.require().start_listening(call_id)

    @tool(server, title="Stop listening", annotations=READ)
    async def stop_listening(call_id: CallId) -> ListenResult:
        """Close the call's background listen session (returns at once); events and summary stay readable."""
        return state.require().stop_listening(call_id)

    @tool(server, title="Audio summary", annotations=LOCAL_READ)
    async def get_audio_summary(call_id: CallId) -> AudioSummary:
        """Who talked how long, turns, levels, overlap, silences, interruptions and a sparkline per party.

        Twin of the vapi://calls/{call_id}/audio-summary resource. Needs a listen session (start_listening).
        """
        return state.require().audio_summary(call_id)

    @tool(server, title="Wait for an event", annotations=LOCAL_READ)
    async def wait_for_event(
        ctx: Context,
        call_id: Annotated[CallId | None, Field(description="Omit to wait on the fleet inbox.")] = None,
        types: Annotated[list[str] | None, Field(max_length=20, description="Event types to wait for.")] = None,
        after_seq: Annotated[
            int | None, Field(ge=0, description="Wait for events after this seq (default: only new ones).")
        ] = None,
        timeout_s: Annotated[float, Field(gt=0, le=50, description="Give up after this long (max 50 s).")] = 20,
    ) -> WaitResult:
        """Block until the call logs a matching event, or the timeout (progress is reported while waiting).

        Examples: types=["speech.started"] to know when someone talks, ["silence"] for dead air,
        ["call.status"] for status changes. Returns the matching events and next_seq.
        """

        async def progress(waited: float, total: float) -> None:
            await ctx.report_progress(waited, total, f"waiting for events on {call_id or 'the inbox'}")

        return await state.require().wait_for_event(
            call_id, types=types, after_seq=after_seq, timeout_s=timeout_s, progress=progress
        )
