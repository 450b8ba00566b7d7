"""The MCP prompts: playbooks an agent can load to supervise one call, or a whole fleet, with these tools."""

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


FLEET_PROMPT = """\
You are supervising every live Vapi call this server watches, for a human operator. Goal: {goal}

Run an inbox loop: call wait_for_event with no call_id (types: alert, call.added, call.ended), passing the
returned next_seq as after_seq each time; it returns at once when something is waiting. Every event names its
call_id; get_call_events with that call_id (after the alert's call_seq) shows what led to it.

Which alert calls for what:
- keywords (warning): the caller said a watched phrase. Read the transcript; add_message (role=system,
  trigger_response=false) to steer the assistant: apologise, de-escalate, offer a human.
- dead_air (warning): nobody has spoken for a while. add_message to have the assistant check in, or say a short
  line if the assistant seems stuck.
- talk_over (warning): both parties talk at once. Whisper to the assistant to pause and let the caller finish.
- monologue (info): one party talks without a break. Whisper to the assistant to be brief and ask a question.
- audio_quality (warning): a party is too quiet or clipping. Have the assistant say it hears them badly.
- listen_lost (critical): you are blind on that call. start_listening again; tell the operator if it stays down.
- ended_abnormally (critical): the call failed. Report its endedReason to the operator.
- call_duration (info): the call is long. Check whether it is still making progress.
Tune rules with set_alert_rules (per call, or the defaults without call_id): {rules_hint}

end_call, transfer_call and handoff_call act on a real person's call and cannot be undone. Use them only when
the goal above allows it or the operator agrees; the server may ask the operator to confirm, and a refusal
means stop and report, never retry. On call.ended, summarise the call in one line from its figures.
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

    @server.prompt(name="supervise_fleet", title="Supervise every live call")
    def supervise_fleet(
        goal: Annotated[str, Field(description="What the supervisor should watch for.")] = (
            "keep every call on track and step in where an alert says so"
        ),
        phrases: Annotated[
            str | None, Field(description="Comma-separated phrases the keywords rule should watch for.")
        ] = None,
    ) -> str:
        """A playbook for an agent supervising many calls at once from the fleet inbox."""
        watched = [p.strip() for p in (phrases or "").split(",") if p.strip()]
        hint = (
            f'first set {{"keywords": {{"phrases": {watched!r}}}}} as the defaults.'.replace("'", '"')
            if watched
            else "the defaults watch no phrases until you set keywords.phrases."
        )
        return FLEET_PROMPT.format(goal=goal, rules_hint=hint)
