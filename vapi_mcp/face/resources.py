"""The MCP resources: every supervised call's state, events, audio summary, transcript, recording and report.

Handlers are ``async`` on purpose: the SDK runs a synchronous resource function in a worker
thread, where it would read an event log or flush a recording while the event loop appends to
them. On the loop, a read sees a consistent log. Each handler is one supervisor call.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server import MCPServer
from mcp.types import Completion, ResourceTemplateReference

from vapi_mcp.face.errors import resource_errors
from vapi_mcp.face.notify import INBOX_URI
from vapi_mcp.face.state import AppState
from vapi_mcp.supervisor.views import CallList

__all__ = ["register_resources"]


def register_resources(server: MCPServer[Any], state: AppState) -> None:
    @server.resource("vapi://calls", name="calls", title="Supervised calls", mime_type="application/json")
    async def calls_resource() -> str:
        """Every call this server supervises, with status and listen state."""
        return CallList(calls=state.require().supervised_calls()).model_dump_json()

    @server.resource(INBOX_URI, name="inbox", title="Fleet inbox", mime_type="application/json")
    async def inbox_resource() -> str:
        """Alerts, calls added and calls ended across every call (latest window, next_seq for get_call_events)."""
        return state.require().latest_inbox().model_dump_json()

    @server.resource("vapi://calls/{call_id}", name="call", title="Call state", mime_type="application/json")
    async def call_resource(call_id: str) -> str:
        """One supervised call: status, listen state, event count and resource URIs."""
        with resource_errors():
            return state.require().info(call_id).model_dump_json()

    @server.resource(
        "vapi://calls/{call_id}/events", name="call-events", title="Call events", mime_type="application/json"
    )
    async def events_resource(call_id: str) -> str:
        """The latest window of a call's event log, with next_seq for get_call_events."""
        with resource_errors():
            return state.require().latest_events(call_id).model_dump_json()

    @server.resource(
        "vapi://calls/{call_id}/audio-summary",
        name="call-audio-summary",
        title="Live audio summary",
        mime_type="application/json",
    )
    async def audio_summary_resource(call_id: str) -> str:
        """Talk time, turns, levels, overlap, silences and sparkline per party (updates live while listening)."""
        with resource_errors():
            return (await state.require().audio_summary(call_id)).model_dump_json()

    @server.resource(
        "vapi://calls/{call_id}/transcript", name="call-transcript", title="Transcript", mime_type="text/plain"
    )
    async def transcript_resource(call_id: str) -> str:
        """Final transcript lines Vapi sent on the listen stream, one 'role: text' per line."""
        with resource_errors():
            return state.require().transcript(call_id)

    @server.resource(
        "vapi://calls/{call_id}/recording.wav", name="call-recording", title="Recording (latest)", mime_type="audio/wav"
    )
    async def recording_resource(call_id: str) -> bytes:
        """The latest minutes of the call's stereo recording (customer left, assistant right) as WAV."""
        with resource_errors():
            return state.require().recording(call_id)

    @server.resource(
        "vapi://calls/{call_id}/report", name="call-report", title="End-of-call report", mime_type="application/json"
    )
    async def report_resource(call_id: str) -> str:
        """Vapi's end-of-call report (summary, analysis, cost, recording URLs), once a webhook brought it."""
        with resource_errors():
            return json.dumps(state.require().report(call_id))

    @server.completion()
    async def complete(ref: Any, argument: Any, context: Any) -> Completion | None:
        if not isinstance(ref, ResourceTemplateReference) or argument.name != "call_id":
            return None
        supervisor = state.supervisor
        ids = sorted(supervisor.calls) if supervisor else []
        values = [cid for cid in ids if cid.startswith(argument.value)][:100]
        return Completion(values=values, total=len(values), has_more=False)
