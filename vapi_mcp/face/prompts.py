"""The MCP prompts: a playbook an agent can load to supervise one call with these tools."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from pydantic import Field

__all__ = ["register_prompts"]

SUPERVISE_PROMPT = """\
You are supervising live phone call {call_id} on Vapi for a human operator. Goal: {goal}

1. get_call to see its status; start_listening if it is not listening yet.
2. Follow the call with wait_for_event (types: speech.started, speech.stopped, silence, overlap, transcript,
   call.status), passing the returned next_seq as after_seq each time. get_audio_summary shows talk ratios,
   silences and interruptions at a glance.
3. Steer gently: add_message (role=system, trigger_response=false) to whisper guidance to the assistant;
   say only when the caller must hear exact words; control_call to mute or unmute.
4. end_call, transfer_call and handoff_call act on a real person's call and cannot be undone: ask the operator
   before using them unless the goal above explicitly allows it.
5. When the call ends, summarise what happened from the events and the audio summary.
"""


def register_prompts(server: MCPServer[Any]) -> None:
    @server.prompt(name="supervise_call", title="Supervise a live call")
    def supervise_call(
        call_id: Annotated[str, Field(description="The call to supervise.")],
        goal: Annotated[str, Field(description="What the supervisor should watch for.")] = (
            "keep the conversation on track and flag dead air or talk-over"
        ),
    ) -> str:
        """A playbook for an agent supervising one call with this server's tools."""
        return SUPERVISE_PROMPT.format(call_id=call_id, goal=goal)
